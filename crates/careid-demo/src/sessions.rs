//! The demo's own sessions: a random id in a cookie, mapped in memory to what the demo
//! knows about that browser. Lost on restart, which a demo can afford. At most
//! [`MAX_SESSIONS`] are kept: every visit to a demo's sign-in link starts one, and the
//! demos run inside `careid serve` by default, so anyone could otherwise fill its memory.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use rand::RngCore;

/// A sign-in this browser started: what the callback must match.
pub(crate) struct Pending {
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// A signed-in browser: the tokens and what they say.
#[derive(Clone)]
pub(crate) struct SignedIn {
    /// The ID token as received, for `id_token_hint` at sign-out.
    pub id_token: String,
    /// The verified ID token's claims.
    pub claims: serde_json::Value,
    /// What UserInfo answered with the access token.
    pub userinfo: serde_json::Value,
    /// Unix time at which the access token expires, if careid said.
    pub access_expires_at: Option<i64>,
    pub refresh_token: Option<String>,
    /// careid's session id (`sid`), matched by back-channel logout tokens.
    pub sid: Option<String>,
    pub subject: String,
    /// How many times the tokens were refreshed.
    pub refreshed: u32,
}

/// How many browsers a demo remembers; past this, the one idle longest is forgotten.
const MAX_SESSIONS: usize = 10_000;

#[derive(Default)]
struct Session {
    pending: Option<Pending>,
    signed_in: Option<SignedIn>,
    /// When it was last started or signed in, in [`Map::ticks`].
    touched: u64,
}

#[derive(Default)]
struct Map {
    sessions: HashMap<String, Session>,
    /// Counts every start and sign-in: an order, not a time.
    ticks: u64,
}

impl Map {
    /// The session `id`, made if new (forgetting the one idle longest when full), and
    /// marked as just used.
    fn touch(&mut self, id: &str, capacity: usize) -> &mut Session {
        if !self.sessions.contains_key(id) && self.sessions.len() >= capacity {
            let idle = self
                .sessions
                .iter()
                .min_by_key(|(_, session)| session.touched)
                .map(|(idle, _)| idle.clone());
            if let Some(idle) = idle {
                self.sessions.remove(&idle);
            }
        }
        self.ticks += 1;
        let session = self.sessions.entry(id.to_owned()).or_default();
        session.touched = self.ticks;
        session
    }
}

/// Every browser the demo knows, by session id.
pub(crate) struct Sessions {
    map: Mutex<Map>,
    capacity: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_capacity(MAX_SESSIONS)
    }
}

impl Sessions {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            map: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Map> {
        // A panic elsewhere while holding the lock leaves the map usable for a demo.
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session id, unguessable (128 random bits).
    pub(crate) fn new_id() -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn start(&self, id: &str, pending: Pending) {
        self.lock().touch(id, self.capacity).pending = Some(pending);
    }

    pub(crate) fn take_pending(&self, id: &str) -> Option<Pending> {
        self.lock()
            .sessions
            .get_mut(id)
            .and_then(|s| s.pending.take())
    }

    pub(crate) fn sign_in(&self, id: &str, signed_in: SignedIn) {
        self.lock().touch(id, self.capacity).signed_in = Some(signed_in);
    }

    pub(crate) fn signed_in(&self, id: &str) -> Option<SignedIn> {
        self.lock()
            .sessions
            .get(id)
            .and_then(|s| s.signed_in.clone())
    }

    /// Ends the local session `id`, returning what it held.
    pub(crate) fn end(&self, id: &str) -> Option<SignedIn> {
        self.lock().sessions.remove(id).and_then(|s| s.signed_in)
    }

    /// Ends every local session of careid session `sid`, or of `subject` when the logout
    /// token names no session (Back-Channel Logout 1.0 §2.6). Returns how many ended.
    pub(crate) fn end_matching(&self, sid: Option<&str>, subject: Option<&str>) -> usize {
        let map = &mut self.lock().sessions;
        let before = map.len();
        map.retain(|_, session| {
            let Some(signed_in) = &session.signed_in else {
                return true;
            };
            let matches = match (sid, subject) {
                (Some(sid), _) => signed_in.sid.as_deref() == Some(sid),
                (None, Some(subject)) => signed_in.subject == subject,
                (None, None) => false,
            };
            !matches
        });
        before - map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_in(sid: &str, subject: &str) -> SignedIn {
        SignedIn {
            id_token: String::new(),
            claims: serde_json::Value::Null,
            userinfo: serde_json::Value::Null,
            access_expires_at: None,
            refresh_token: None,
            sid: Some(sid.into()),
            subject: subject.into(),
            refreshed: 0,
        }
    }

    #[test]
    fn a_logout_by_sid_ends_only_that_careid_session() {
        let sessions = Sessions::default();
        sessions.sign_in("a", signed_in("s1", "ada"));
        sessions.sign_in("b", signed_in("s2", "ada"));
        assert_eq!(sessions.end_matching(Some("s1"), Some("ada")), 1);
        assert!(sessions.signed_in("a").is_none());
        assert!(sessions.signed_in("b").is_some());
    }

    #[test]
    fn when_full_the_session_idle_longest_is_forgotten() {
        let sessions = Sessions::with_capacity(3);
        sessions.sign_in("a", signed_in("s1", "ada"));
        sessions.sign_in("b", signed_in("s2", "bo"));
        sessions.sign_in("c", signed_in("s3", "cy"));
        // "a" signs in again, so "b" is now the one idle longest.
        sessions.sign_in("a", signed_in("s4", "ada"));
        sessions.sign_in("d", signed_in("s5", "di"));
        assert!(sessions.signed_in("b").is_none());
        for kept in ["a", "c", "d"] {
            assert!(sessions.signed_in(kept).is_some(), "{kept}");
        }
        assert_eq!(sessions.lock().sessions.len(), 3);
        // Returning to a known session never forgets another.
        sessions.sign_in("c", signed_in("s6", "cy"));
        assert_eq!(sessions.lock().sessions.len(), 3);
        assert!(sessions.signed_in("a").is_some());
    }

    #[test]
    fn a_logout_by_subject_ends_every_session_of_that_subject() {
        let sessions = Sessions::default();
        sessions.sign_in("a", signed_in("s1", "ada"));
        sessions.sign_in("b", signed_in("s2", "ada"));
        sessions.sign_in("c", signed_in("s3", "bo"));
        assert_eq!(sessions.end_matching(None, Some("ada")), 2);
        assert!(sessions.signed_in("c").is_some());
        assert_eq!(sessions.end_matching(None, None), 0);
    }
}
