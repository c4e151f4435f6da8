//! What `careid serve` says when it starts and how it stops: one summary line of the
//! settings an operator most often gets wrong, warnings for development settings on a
//! public (https) issuer, and the signals that end it (SIGTERM from systemd, Docker or
//! Kubernetes; SIGINT from Ctrl-C).

use std::path::Path;

use careid_mail::MailTransport;
use careid_protocol::RegistrationMode;

use crate::{Config, redact};

/// Logs the start-up summary and the warnings. `clients` is the number of client files
/// loaded.
pub fn summarize(config_path: &Path, config: &Config, clients: usize) {
    let mail = match config.mail.transport {
        MailTransport::Outbox => "outbox",
        MailTransport::Smtp => "smtp",
    };
    let registration = match config.registration.mode {
        RegistrationMode::Open => "open",
        RegistrationMode::Token => "token",
        RegistrationMode::Off => "off",
    };
    tracing::info!(
        config = %config_path.display(),
        issuer = %config.issuer,
        database = %redact(&config.database_url),
        mail,
        clients,
        registration,
        "configuration"
    );
    for warning in warnings(config) {
        tracing::warn!("{warning}");
    }
}

/// Development settings that do not belong behind a public https issuer.
fn warnings(config: &Config) -> Vec<&'static str> {
    if !config.issuer.starts_with("https://") {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    if config.demo {
        warnings.push("demo = true on an https issuer: a demo account with a printed password is created; set demo = false");
    }
    if config.registration.mode == RegistrationMode::Open {
        warnings.push("[registration] mode = \"open\" on an https issuer: anyone may register a client; use \"token\" or \"off\"");
    }
    if config.mail.transport == MailTransport::Outbox {
        warnings.push("[mail] transport = \"outbox\" on an https issuer: no mail is sent, and links are written to the logs; use \"smtp\"");
    }
    warnings
}

/// Completes on the first SIGTERM or SIGINT and names it.
pub async fn signal() -> &'static str {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => "SIGINT",
        () = terminate() => "SIGTERM",
    }
}

#[cfg(unix)]
async fn terminate() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(err) => {
            tracing::error!(%err, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_settings_warn_only_behind_an_https_issuer() {
        let mut config = Config {
            demo: true,
            ..Config::default()
        };
        config.registration.mode = RegistrationMode::Open;
        assert!(warnings(&config).is_empty());
        config.issuer = "https://id.clinic.example".into();
        assert_eq!(warnings(&config).len(), 3);
        config.demo = false;
        config.registration.mode = RegistrationMode::Token;
        config.mail.transport = MailTransport::Smtp;
        assert!(warnings(&config).is_empty());
    }
}
