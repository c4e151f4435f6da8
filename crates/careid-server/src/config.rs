//! careid.toml: one file, every key overridable from the environment as
//! `CAREID_SECTION__KEY` (and the top-level keys as `CAREID_ISSUER`, `CAREID_LISTEN`,
//! `CAREID_DATABASE_URL`…).

use std::path::{Path, PathBuf};

use careid_accounts::{AccountsConfig, LifecycleConfig};
use careid_mail::MailConfig;
use careid_policy::{HashParams, LockoutRules, PasswordRules, SessionRules};
use careid_protocol::{ProtocolConfig, RegistrationConfig};
use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The issuer URL: what tokens carry as `iss` and where RPs find discovery.
    pub issuer: String,
    /// The address to listen on.
    pub listen: String,
    /// `sqlite://…` (embedded) or `postgres://…` (several instances).
    pub database_url: String,
    /// Connections in the pool (on SQLite: the readers, beside the one writer).
    pub database_max_connections: u32,
    /// How long a request waits for a database connection (on SQLite, for the writer)
    /// before it is answered 503 with `Retry-After`.
    pub database_wait_ms: u64,
    /// Folder of client files, one `<client_id>.toml` each.
    pub clients_dir: PathBuf,
    /// Folder of themes (`default/` plus one per brand).
    pub themes_dir: PathBuf,
    /// Development mode: on first start, create a demo account and print its password.
    pub demo: bool,
    /// Token lifetimes.
    pub tokens: ProtocolConfig,
    /// Credential rules.
    pub policy: PolicyConfig,
    /// Browser-session limits (automatic logoff).
    pub session: SessionRules,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// `[lifecycle]`: how long invitation and reset links and codes live.
    pub lifecycle: LifecycleConfig,
    /// `[registration]`: who may register clients over HTTP (RFC 7591).
    pub registration: RegistrationConfig,
    /// `[keys]`: the key-encryption key's file and the rotation publish delay.
    pub keys: KeysConfig,
}

/// `[keys]`: signing keys at rest and their rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// A file holding the key-encryption key (base64 of 32 bytes, as `careid keys
    /// new-kek` prints it) that seals the private signing keys in the database. The
    /// `CAREID_KEK` environment variable may hold the key itself instead.
    pub key_encryption_key_file: Option<PathBuf>,
    /// Minutes between `careid keys rotate` publishing a new key in the JWKS and that
    /// key signing tokens, so relying parties that cache the JWKS know it first.
    pub publish_delay_minutes: u32,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            key_encryption_key_file: None,
            publish_delay_minutes: 10,
        }
    }
}

/// The environment variable that may hold the key-encryption key itself.
pub const KEK_VARIABLE: &str = "CAREID_KEK";

impl KeysConfig {
    /// The key-encryption key, from `CAREID_KEK` or `key_encryption_key_file`; `None`
    /// if neither is set. Both at once is refused: one of them would be silently unused.
    pub fn kek(&self) -> anyhow::Result<Option<careid_protocol::Kek>> {
        let from_env = std::env::var(KEK_VARIABLE).ok().filter(|v| !v.is_empty());
        let text = match (from_env, &self.key_encryption_key_file) {
            (Some(_), Some(path)) => anyhow::bail!(
                "{KEK_VARIABLE} and [keys] key_encryption_key_file ({}) are both set: keep one",
                path.display()
            ),
            (Some(text), None) => text,
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|err| {
                anyhow::anyhow!(
                    "[keys] key_encryption_key_file: reading {}: {err}",
                    path.display()
                )
            })?,
            (None, None) => return Ok(None),
        };
        careid_protocol::Kek::from_base64(&text)
            .map(Some)
            .map_err(|err| anyhow::anyhow!("the key-encryption key: {err}"))
    }

    /// [`Self::publish_delay_minutes`] as a duration.
    pub fn publish_delay(&self) -> time::Duration {
        time::Duration::minutes(self.publish_delay_minutes.into())
    }
}

/// `[policy]`: password rules, hashing, lockout and inactivity expiry.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// `[policy.password]`.
    pub password: PasswordRules,
    /// `[policy.hash]`: argon2id parameters.
    pub hash: HashParams,
    /// `[policy.lockout]`.
    pub lockout: LockoutRules,
    /// Days without a sign-in after which an account expires.
    pub inactivity_expiry_days: u32,
    /// Concurrent password hashes (0: one per core).
    pub hash_workers: usize,
    /// How long a sign-in waits for a hashing slot before it is refused with 503.
    pub hash_max_wait_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let accounts = AccountsConfig::default();
        Self {
            password: accounts.password,
            hash: accounts.hash,
            lockout: accounts.lockout,
            inactivity_expiry_days: accounts.inactivity_expiry_days,
            hash_workers: accounts.hash_workers,
            hash_max_wait_ms: accounts.hash_max_wait_ms,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/careid.db?mode=rwc".into(),
            database_max_connections: 8,
            database_wait_ms: 5000,
            clients_dir: "config/clients".into(),
            themes_dir: "themes".into(),
            demo: false,
            tokens: ProtocolConfig::default(),
            policy: PolicyConfig::default(),
            session: SessionRules::default(),
            mail: MailConfig::default(),
            lifecycle: LifecycleConfig::default(),
            registration: RegistrationConfig::default(),
            keys: KeysConfig::default(),
        }
    }
}

/// The top-level keys, so unrelated `CAREID_*` variables (such as the test suite's
/// `CAREID_TEST_DATABASE_URL`) are not mistaken for configuration.
const KEYS: [&str; 15] = [
    "issuer",
    "listen",
    "database_url",
    "database_max_connections",
    "database_wait_ms",
    "clients_dir",
    "themes_dir",
    "demo",
    "tokens",
    "policy",
    "session",
    "mail",
    "lifecycle",
    "registration",
    "keys",
];

impl Config {
    /// Reads `path` (if it exists) and the environment over it.
    pub fn load(path: &Path) -> Result<Self, Box<figment::Error>> {
        Self::figment(path).extract().map_err(Box::new)
    }

    /// The layered sources: defaults, the file, then `CAREID_…` variables.
    pub fn figment(path: &Path) -> Figment {
        // Every section has serde defaults, so missing keys take them.
        Figment::new().merge(Toml::file(path)).merge(
            Env::prefixed("CAREID_")
                .split("__")
                // The filter sees keys as written (upper case); figment lower-cases later.
                .filter(|key| {
                    let top = key
                        .as_str()
                        .split('.')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    KEYS.contains(&top.as_str())
                }),
        )
    }

    /// The account service's settings.
    pub fn accounts(&self) -> AccountsConfig {
        AccountsConfig {
            password: self.policy.password.clone(),
            hash: self.policy.hash,
            lockout: self.policy.lockout,
            inactivity_expiry_days: self.policy.inactivity_expiry_days,
            session: self.session,
            hash_max_wait_ms: self.policy.hash_max_wait_ms,
            hash_workers: self.policy.hash_workers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_dev_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/careid.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config: Config = toml::from_str(&text).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert!(config.demo);
        assert_eq!(
            config.registration.mode,
            careid_protocol::RegistrationMode::Open
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type.
    fn every_key_can_be_set_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "careid.toml",
                "issuer = \"http://127.0.0.1:8080\"\n[policy.lockout]\nmax_failures = 5",
            )?;
            jail.set_env("CAREID_ISSUER", "http://127.0.0.1:9090");
            jail.set_env("CAREID_LISTEN", "127.0.0.1:9090");
            jail.set_env("CAREID_DATABASE_URL", "sqlite://data/second.db?mode=rwc");
            jail.set_env("CAREID_POLICY__LOCKOUT__MAX_FAILURES", "3");
            jail.set_env("CAREID_MAIL__OUTBOX_DIR", "/tmp/outbox");
            jail.set_env("CAREID_SESSION__IDLE_MINUTES", "10");
            // Not configuration: left alone rather than refused as an unknown key.
            jail.set_env("CAREID_TEST_DATABASE_URL", "postgres://x/y");
            let config = Config::load(Path::new("careid.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.issuer, "http://127.0.0.1:9090");
            assert_eq!(config.listen, "127.0.0.1:9090");
            assert_eq!(config.database_url, "sqlite://data/second.db?mode=rwc");
            assert_eq!(config.policy.lockout.max_failures, 3);
            assert_eq!(config.mail.outbox_dir, Path::new("/tmp/outbox"));
            assert_eq!(config.session.idle_minutes, 10);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type.
    fn a_bad_value_in_the_environment_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("careid.toml", "")?;
            jail.set_env("CAREID_POLICY__LOCKOUT__MAX_FAILURES", "many");
            assert!(Config::load(Path::new("careid.toml")).is_err());
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_key_is_refused() {
        assert!(toml::from_str::<Config>("isuer = \"x\"").is_err());
        assert!(toml::from_str::<Config>("[policy.lockout]\nmax_failure = 3").is_err());
    }
}
