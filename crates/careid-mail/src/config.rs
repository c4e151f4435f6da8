//! The `[mail]` section of `careid.toml`. Only the shape and defaults live here; reading
//! the file and the `CAREID_…` overrides is `careid-server`'s job, and turning this into
//! a working transport is `Mailer::new`'s.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// How careid sends mail. Every key is optional; the defaults write to a local outbox.
///
/// ```toml
/// [mail]
/// from = "Care Portal <no-reply@care.example>"
/// transport = "smtp"
/// retries = 3
/// retry_delay_ms = 500
///
/// [mail.smtp]
/// host = "smtp.care.example"
/// port = 587
/// security = "starttls"
/// username = "careid"
/// password_env = "CAREID_SMTP_PASSWORD"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The `From` header, as `Name <address>` or a bare address.
    pub from: String,
    /// Where messages go.
    pub transport: MailTransport,
    /// The directory the outbox transport writes `.eml` files to; created if missing.
    pub outbox_dir: PathBuf,
    /// The relay the SMTP transport sends through.
    pub smtp: SmtpConfig,
    /// How many times a failed send is tried again before it is reported as failed.
    pub retries: u32,
    /// The pause between two tries, in milliseconds.
    pub retry_delay_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "careid <no-reply@careid.local>".to_owned(),
            transport: MailTransport::Outbox,
            outbox_dir: PathBuf::from("data/outbox"),
            smtp: SmtpConfig::default(),
            retries: 3,
            retry_delay_ms: 500,
        }
    }
}

impl MailConfig {
    /// A config that writes to the outbox directory `dir`.
    pub fn outbox(dir: impl Into<PathBuf>) -> Self {
        Self {
            transport: MailTransport::Outbox,
            outbox_dir: dir.into(),
            ..Self::default()
        }
    }

    /// A config that sends unencrypted, unauthenticated SMTP to `addr` and retries quickly:
    /// for tests against a loopback listener such as `testing::SmtpSink`.
    pub fn loopback_smtp(addr: SocketAddr) -> Self {
        Self {
            transport: MailTransport::Smtp,
            smtp: SmtpConfig {
                host: addr.ip().to_string(),
                port: addr.port(),
                security: SmtpSecurity::None,
                ..SmtpConfig::default()
            },
            retry_delay_ms: 1,
            ..Self::default()
        }
    }
}

/// Which transport `Mailer` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Write each message as an `.eml` file and log its links: the development default.
    /// Never in production: the logs then hold working one-time links.
    Outbox,
    /// Send through an SMTP relay.
    Smtp,
}

/// The SMTP relay. It holds no secret: the password stays in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name of the relay; also the name its TLS certificate must carry.
    pub host: String,
    /// Port: 587 for STARTTLS (the default), usually 465 for implicit TLS.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// User name for SMTP AUTH; set together with `password_env`.
    pub username: Option<String>,
    /// The NAME of the environment variable that holds the password, so the secret is
    /// never in the config file.
    pub password_env: Option<String>,
    /// Connect and command timeout, in seconds.
    pub timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "localhost".to_owned(),
            port: 587,
            security: SmtpSecurity::StartTls,
            username: None,
            password_env: None,
            timeout_seconds: 10,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which the relay must offer (`starttls`).
    StartTls,
    /// TLS from the first byte, "implicit TLS" (`tls`).
    Tls,
    /// No encryption at all (`none`): only for a relay on loopback, such as in tests.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_gives_the_outbox_defaults() {
        let config: MailConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, MailConfig::default());
        assert_eq!(config.from, "careid <no-reply@careid.local>");
        assert_eq!(config.transport, MailTransport::Outbox);
        assert_eq!(config.outbox_dir, PathBuf::from("data/outbox"));
        assert_eq!(config.smtp.port, 587);
        assert_eq!(config.smtp.security, SmtpSecurity::StartTls);
        assert_eq!(config.smtp.timeout_seconds, 10);
        assert_eq!(config.retries, 3);
        assert_eq!(config.retry_delay_ms, 500);
    }

    #[test]
    fn smtp_settings_are_read_in_lowercase() {
        let config: MailConfig = serde_json::from_value(serde_json::json!({
            "transport": "smtp",
            "smtp": {
                "host": "smtp.care.example",
                "port": 465,
                "security": "tls",
                "username": "careid",
                "password_env": "CAREID_SMTP_PASSWORD"
            }
        }))
        .unwrap();
        assert_eq!(config.transport, MailTransport::Smtp);
        assert_eq!(config.smtp.security, SmtpSecurity::Tls);
        assert_eq!(config.smtp.port, 465);
        assert_eq!(config.smtp.timeout_seconds, 10);
        assert_eq!(
            config.smtp.password_env.as_deref(),
            Some("CAREID_SMTP_PASSWORD")
        );
        for (text, security) in [
            ("starttls", SmtpSecurity::StartTls),
            ("none", SmtpSecurity::None),
        ] {
            let parsed: SmtpSecurity = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(parsed, security);
        }
    }

    #[test]
    fn a_misspelt_key_is_rejected_rather_than_ignored() {
        let result: Result<MailConfig, _> = serde_json::from_str(r#"{"retry_delay": 5}"#);
        assert!(result.is_err());
    }
}
