//! Newtypes for a password as typed and for its stored hash. Neither prints its content.

use std::fmt;

use serde::Deserialize;

/// A password as the person typed it. Never printed: `Debug` shows `PlainPassword(***)`
/// and there is no `Display`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct PlainPassword(String);

impl PlainPassword {
    /// Wraps a password as typed.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password text, for hashing and rule checks only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainPassword(***)")
    }
}

/// A stored password hash in PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
/// `Debug` hides it, since a leaked hash can be attacked offline.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from storage. It is not parsed here: a malformed string
    /// simply never verifies.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, for storing.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_password_never_shows_in_debug_output() {
        let password = PlainPassword::new("Hunter2-secret!");
        assert_eq!(format!("{password:?}"), "PlainPassword(***)");
        assert_eq!(password.as_str(), "Hunter2-secret!");
    }

    #[test]
    fn a_password_hash_never_shows_in_debug_output() {
        let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(***)");
    }

    #[test]
    fn a_password_hash_gives_back_the_phc_string_it_was_built_from() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_string();
        let hash = PasswordHash::from_phc(phc.clone());
        assert_eq!(hash.as_str(), phc);
        assert_eq!(hash.into_string(), phc);
    }
}
