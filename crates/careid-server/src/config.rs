//! careid.toml: one file, every key overridable from the environment as
//! `CAREID_SECTION__KEY` (and the top-level keys as `CAREID_ISSUER`, `CAREID_LISTEN`,
//! `CAREID_DATABASE_URL`…). Any other `CAREID_…` variable is refused, naming it, unless
//! careid reads it itself ([`OTHER_VARIABLES`]) or the config names it (`password_env`,
//! a client's `env:` secret): a misspelt override must not be silently dropped.

use std::path::{Path, PathBuf};

use careid_accounts::{AccountsConfig, LifecycleConfig};
use careid_mail::MailConfig;
use careid_policy::{HashParams, LockoutRules, PasswordRules, SessionRules};
use careid_protocol::{ClientSecret, ProtocolConfig, RateLimitConfig, RegistrationConfig};
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
    /// `[themes]`: template reloading in development.
    pub themes: ThemesConfig,
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
    /// The networks (CIDRs) of the load balancers and reverse proxies in front of
    /// careid. Only a request from one of them may name its client in `Forwarded` or
    /// `X-Forwarded-For`; empty, every request's TCP peer is its client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `[rate_limit]`: quotas per client address and per account.
    pub rate_limit: RateLimitConfig,
    /// `[audit]`: how long the audit trail is kept.
    pub audit: AuditConfig,
    /// `[log]`: how log lines are written.
    pub log: crate::logging::LogConfig,
    /// `[metrics]`: where the Prometheus metrics are served.
    pub metrics: crate::metrics::MetricsConfig,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish before
    /// careid exits anyway.
    pub shutdown_grace_seconds: u64,
}

/// `[audit]`: the audit trail's retention.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Days an audit event is kept; older ones are deleted by a background job, in
    /// batches. Unset (the default): kept forever. Zero is refused: it would delete the
    /// trail as it is written.
    pub retention_days: Option<std::num::NonZeroU32>,
}

/// `[themes]`: how the page templates under `themes_dir` are read.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThemesConfig {
    /// Development only: read and compile the page templates on every render, so an
    /// edited template shows on the next page load without a restart.
    pub reload: bool,
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
            themes: ThemesConfig::default(),
            tokens: ProtocolConfig::default(),
            policy: PolicyConfig::default(),
            session: SessionRules::default(),
            mail: MailConfig::default(),
            lifecycle: LifecycleConfig::default(),
            registration: RegistrationConfig::default(),
            keys: KeysConfig::default(),
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            audit: AuditConfig::default(),
            log: crate::logging::LogConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            shutdown_grace_seconds: 20,
        }
    }
}

/// The top-level keys: a `CAREID_…` variable whose first part is one of these is
/// configuration.
const KEYS: [&str; 21] = [
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
    "trusted_proxies",
    "rate_limit",
    "audit",
    "log",
    "metrics",
    "shutdown_grace_seconds",
];

/// `CAREID_…` variables careid (or its scripts and tests) reads itself, outside the
/// configuration: left to their readers, not refused as unknown settings.
pub const OTHER_VARIABLES: [&str; 6] = [
    "CAREID_CONFIG",
    "CAREID_LOG",
    KEK_VARIABLE,
    "CAREID_TEST_DATABASE_URL",
    "CAREID_PG_DIR_FILE",
    "CAREID_PG_PORT",
];

/// The `CAREID_` prefix of every override.
const PREFIX: &str = "CAREID_";

/// The configuration key a `CAREID_…` variable sets (`tokens.access_token_seconds`),
/// or `None` when its first part is no top-level key. `CAREID_LOG` is the log filter,
/// read by `main`, not the `[log]` section (that is `CAREID_LOG__FORMAT`).
fn config_key(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix(PREFIX)?;
    if rest == "LOG" {
        return None;
    }
    let key = rest.to_ascii_lowercase().replace("__", ".");
    let top = key.split('.').next().unwrap_or_default();
    KEYS.contains(&top).then_some(key)
}

impl Config {
    /// Reads `path` (if it exists) and the environment over it, and refuses a
    /// `CAREID_…` variable that is neither a setting nor read elsewhere.
    pub fn load(path: &Path) -> Result<Self, Box<figment::Error>> {
        let config: Self = Self::figment(path).extract().map_err(Box::new)?;
        config
            .check_variables(std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()))
            .map_err(|message| Box::new(figment::Error::from(message)))?;
        Ok(config)
    }

    /// Refuses the first of `variables` that starts with `CAREID_` but is no setting,
    /// none of [`OTHER_VARIABLES`], and not named by `password_env` or a client file's
    /// `env:` secret. (An unknown key inside a known section, such as
    /// `CAREID_TOKENS__BOGUS`, is already refused by the sections' `deny_unknown_fields`.)
    pub fn check_variables(
        &self,
        variables: impl IntoIterator<Item = String>,
    ) -> Result<(), String> {
        let mut named: Vec<String> = OTHER_VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        named.extend(self.mail.smtp.password_env.clone());
        let (clients, _) = crate::clients::load_dir(&self.clients_dir);
        named.extend(
            clients
                .into_iter()
                .filter_map(|client| match client.secret {
                    Some(ClientSecret::Env(variable)) => Some(variable),
                    _ => None,
                }),
        );
        let mut unknown: Vec<String> = variables
            .into_iter()
            .filter(|v| v.starts_with(PREFIX) && config_key(v).is_none() && !named.contains(v))
            .collect();
        unknown.sort();
        match unknown.as_slice() {
            [] => Ok(()),
            _ => Err(format!(
                "unknown environment variable{} {}: not a careid setting (settings are CAREID_<SECTION>__<KEY>, e.g. CAREID_TOKENS__ACCESS_TOKEN_SECONDS; see docs/configuration.md)",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            )),
        }
    }

    /// The layered sources: defaults, the file, then `CAREID_…` variables.
    pub fn figment(path: &Path) -> Figment {
        // Every section has serde defaults, so missing keys take them.
        Figment::new().merge(Toml::file(path)).merge(
            Env::prefixed("CAREID_")
                .split("__")
                // The filter sees keys as written (upper case), without the prefix; the
                // others are refused by `check_variables`, or read elsewhere.
                .filter(|key| config_key(&format!("{PREFIX}{}", key.as_str())).is_some()),
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
        // The file spells out the rate-limit defaults; they must stay the same.
        let (shipped, default) = (&config.rate_limit, RateLimitConfig::default());
        assert!(shipped.enabled && config.trusted_proxies.is_empty());
        assert_eq!(
            shipped.pending_authorizations_per_address,
            default.pending_authorizations_per_address
        );
        for (shipped, default) in [
            (shipped.sign_in, default.sign_in),
            (shipped.forgot_password, default.forgot_password),
            (shipped.password_check, default.password_check),
        ] {
            assert_eq!(shipped.per_address, default.per_address);
            assert_eq!(shipped.per_account, default.per_account);
        }
        assert_eq!(
            shipped.registration.per_address,
            default.registration.per_address
        );
        assert_eq!(
            shipped.client_auth_failures.per_address,
            default.client_auth_failures.per_address
        );
        assert_eq!(
            shipped.client_auth_failures.per_client,
            default.client_auth_failures.per_client
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
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type.
    fn an_unknown_careid_variable_is_refused_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("careid.toml", "")?;
            jail.set_env("CAREID_TOKENZ__X", "1");
            let err = Config::load(Path::new("careid.toml")).unwrap_err();
            assert!(err.to_string().contains("CAREID_TOKENZ__X"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type.
    fn a_known_nested_key_and_the_variables_read_elsewhere_are_accepted() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("careid.toml", "")?;
            jail.set_env("CAREID_TOKENS__ACCESS_TOKEN_SECONDS", "120");
            jail.set_env("CAREID_RATE_LIMIT__SIGN_IN__PER_ADDRESS", "7/minute");
            jail.set_env("CAREID_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
            for variable in OTHER_VARIABLES {
                jail.set_env(variable, "x");
            }
            // CAREID_KEK is read by `keys.kek()`, not here.
            let config = Config::load(Path::new("careid.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.tokens.access_token_seconds, 120);
            assert_eq!(
                config.rate_limit.sign_in.per_address,
                careid_protocol::Limit::new(7, 60)
            );
            assert_eq!(config.trusted_proxies, vec!["10.0.0.0/8".parse().unwrap()]);
            Ok(())
        });
    }

    #[test]
    fn variables_the_config_names_for_secrets_are_not_unknown() {
        let clients = tempfile::tempdir().unwrap();
        std::fs::write(
            clients.path().join("emr.toml"),
            "client_id = \"emr\"\nname = \"EMR\"\nsecret = \"env:CAREID_EMR_SECRET\"\nredirect_uris = [\"https://emr.example/cb\"]\n",
        )
        .unwrap();
        let mut config = Config {
            clients_dir: clients.path().to_owned(),
            ..Config::default()
        };
        config.mail.smtp.password_env = Some("CAREID_SMTP_PASSWORD".into());
        let vars = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            config.check_variables(vars(&["CAREID_SMTP_PASSWORD", "CAREID_EMR_SECRET", "PATH"])),
            Ok(())
        );
        let err = config
            .check_variables(vars(&["CAREID_SMTP_PASWORD", "CAREID_EMR_SECRET"]))
            .unwrap_err();
        assert!(err.contains("CAREID_SMTP_PASWORD"), "{err}");
    }

    #[test]
    fn audit_events_are_kept_forever_unless_a_retention_is_set() {
        assert_eq!(Config::default().audit.retention_days, None);
        let config: Config = toml::from_str("[audit]\nretention_days = 2190").unwrap();
        assert_eq!(config.audit.retention_days.map(|d| d.get()), Some(2190));
        assert!(toml::from_str::<Config>("[audit]\nretention_days = 0").is_err());
    }

    #[test]
    fn a_misspelt_key_is_refused() {
        assert!(toml::from_str::<Config>("isuer = \"x\"").is_err());
        assert!(toml::from_str::<Config>("[policy.lockout]\nmax_failure = 3").is_err());
    }
}
