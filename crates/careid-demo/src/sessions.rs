//! The demo's own sessions: a random id in a cookie, mapped in memory to what the demo
//! knows about that browser. Lost on restart, which a demo can afford.

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

#[derive(Default)]
struct Session {
    pending: Option<Pending>,
    signed_in: Option<SignedIn>,
}

/// Every browser the demo knows, by session id.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
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
        self.lock().entry(id.to_owned()).or_default().pending = Some(pending);
    }

    pub(crate) fn take_pending(&self, id: &str) -> Option<Pending> {
        self.lock().get_mut(id).and_then(|s| s.pending.take())
    }

    pub(crate) fn sign_in(&self, id: &str, signed_in: SignedIn) {
        self.lock().entry(id.to_owned()).or_default().signed_in = Some(signed_in);
    }

    pub(crate) fn signed_in(&self, id: &str) -> Option<SignedIn> {
        self.lock().get(id).and_then(|s| s.signed_in.clone())
    }

    /// Ends the local session `id`, returning what it held.
    pub(crate) fn end(&self, id: &str) -> Option<SignedIn> {
        self.lock().remove(id).and_then(|s| s.signed_in)
    }

    /// Ends every local session of careid session `sid`, or of `subject` when the logout
    /// token names no session (Back-Channel Logout 1.0 §2.6). Returns how many ended.
    pub(crate) fn end_matching(&self, sid: Option<&str>, subject: Option<&str>) -> usize {
        let mut map = self.lock();
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
