//! The `[accounts]` configuration: the credential rules, hashing cost and hashing pool.

use std::time::Duration;

use careid_policy::{HashParams, LockoutRules, PasswordRules, SessionRules};
use serde::Deserialize;

/// Account rules and hashing capacity. Every field left out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// What a new password must satisfy.
    pub password: PasswordRules,
    /// argon2id cost for new hashes; older hashes are replaced at the next sign-in.
    pub hash: HashParams,
    /// When repeated failures lock an account.
    pub lockout: LockoutRules,
    /// Days without a sign-in after which an account expires. Default 90.
    pub inactivity_expiry_days: u32,
    /// How long a careid session lasts.
    pub session: SessionRules,
    /// How long a sign-in waits for a hashing slot before it is refused as busy, in
    /// milliseconds. Default 5000, as long as a request waits for the database.
    pub hash_max_wait_ms: u64,
    /// How many passwords are hashed at once; 0 (the default) means one per core.
    pub hash_workers: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            password: PasswordRules::default(),
            hash: HashParams::default(),
            lockout: LockoutRules::default(),
            inactivity_expiry_days: 90,
            session: SessionRules::default(),
            hash_max_wait_ms: 5000,
            hash_workers: 0,
        }
    }
}

impl AccountsConfig {
    /// [`Self::hash_max_wait_ms`] as a duration.
    pub fn hash_max_wait(&self) -> Duration {
        Duration::from_millis(self.hash_max_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_takes_every_default() {
        let config: AccountsConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, AccountsConfig::default());
        assert_eq!(config.inactivity_expiry_days, 90);
        assert_eq!(config.hash_max_wait(), Duration::from_secs(5));
        assert_eq!(config.hash_workers, 0);
    }

    #[test]
    fn a_nested_rule_left_partly_out_keeps_its_other_defaults() {
        let config: AccountsConfig =
            serde_json::from_str(r#"{"lockout": {"max_failures": 3}, "hash_workers": 2}"#).unwrap();
        assert_eq!(config.lockout.max_failures, 3);
        assert_eq!(config.lockout.lock_minutes, 15);
        assert_eq!(config.hash_workers, 2);
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        assert!(serde_json::from_str::<AccountsConfig>(r#"{"inactivity_days": 30}"#).is_err());
    }
}
