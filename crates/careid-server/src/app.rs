//! Builds the whole server from a config and a clock: database, keys, clients, the
//! protocol and page routers, and the layers around them.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::DefaultBodyLimit};
use careid_accounts::{Accounts, Lifecycle, RelyingParty};
use careid_protocol::{Clients, Keys, Protocol, TrustedProxies};
use careid_store::{Clock, Db};
use careid_ui::{ThemedErrorPage, Ui};
use tokio::{net::TcpListener, sync::watch};
use tower_http::timeout::TimeoutLayer;

use crate::{Config, clients, headers, health, jobs, observe};

/// What the key TOTP secrets are sealed under is derived for, from the KEK.
pub(crate) const TOTP_PURPOSE: &str = "totp secrets";

/// Request bodies larger than this are refused with 413: no form careid reads is
/// anywhere near it.
const BODY_LIMIT: usize = 64 * 1024;

/// A built server: its router and the services behind it.
pub struct App {
    /// The HTTP routes.
    pub router: Router,
    /// The protocol state (keys, clients).
    pub protocol: Arc<Protocol>,
    /// The account service.
    pub accounts: Arc<Accounts>,
    /// Invitations and password resets by email.
    pub lifecycle: Arc<Lifecycle>,
    /// The database pool.
    pub db: Db,
    /// The client files, until [`App::watch`] hands them to the watcher.
    client_files: Option<clients::ClientWatch>,
    /// The audit trail's retention, for the pruning job [`App::watch`] starts.
    audit: crate::AuditConfig,
}

impl App {
    /// Migrates the database, loads or creates keys, loads clients and wires routes.
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        careid_store::migrate(&config.database_url)
            .await
            .with_context(|| format!("migrating {}", redact(&config.database_url)))?;
        let wait = std::time::Duration::from_millis(config.database_wait_ms);
        let db =
            careid_store::connect_with(&config.database_url, config.database_max_connections, wait)
                .await
                .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
        let kek = config.keys.kek()?;
        let totp_kek = kek.as_ref().map(|kek| kek.derive(TOTP_PURPOSE));
        let keys = Keys::load_or_create(&db, clock.clone(), kek)
            .await
            .context("loading signing keys")?;

        // Problems are logged by the reload, with their file, line and key.
        let mut client_files = clients::ClientWatch::new(&config.clients_dir);
        let loaded = Clients::default();
        let problems = client_files.reload(&loaded);
        // A client with a sign-in method careid does not know would show a sign-in page
        // nobody can get through (issue 13): refuse to start rather than serve it.
        if let Some(problem) = problems
            .iter()
            .find(|p| p.key.as_deref() == Some("sign_in_methods"))
        {
            anyhow::bail!("{problem}");
        }
        config
            .registration
            .token_digests()
            .map_err(|err| anyhow::anyhow!("registration.initial_access_tokens: {err}"))?;
        let themes = Arc::new(crate::templates::load(config)?);
        let protocol = Arc::new(
            Protocol::new(
                db.clone(),
                clock.clone(),
                &config.issuer,
                config.tokens.clone(),
                config.session,
                config.policy.inactivity_expiry_days,
                loaded,
                keys,
                Arc::new(ThemedErrorPage::new(themes.clone())),
            )
            .with_registration(config.registration.clone())
            .with_rate_limits(&config.rate_limit)
            .with_trusted_proxies(TrustedProxies::new(config.trusted_proxies.clone())),
        );
        // WebAuthn's relying party is the issuer: its host is the RP id, its origin the
        // one origin passkeys answer for. An issuer on an IP address cannot have one.
        let relying_party = RelyingParty::for_issuer(&config.issuer, "careid");
        if relying_party.is_none() {
            tracing::warn!(
                issuer = %config.issuer,
                "passkeys are off: WebAuthn needs an issuer whose host is a domain name"
            );
        }
        let accounts = Arc::new(
            Accounts::new(db.clone(), clock, config.accounts())
                .with_totp_kek(totp_kek)
                .with_passkeys(relying_party),
        );
        let mailer = careid_mail::Mailer::new(&config.mail).context("setting up [mail]")?;
        let renderer = careid_mail::Renderer::new(config.themes_dir.clone());
        crate::templates::check_mail(&renderer, &themes)?;
        let lifecycle = Arc::new(Lifecycle::new(
            accounts.clone(),
            mailer,
            renderer,
            &config.issuer,
            config.lifecycle.clone(),
        ));
        // One CSRF key per installation, in the database: a form served by one instance
        // posts to any other.
        let csrf = accounts
            .install_secret("csrf")
            .await
            .context("loading the CSRF key")?;
        let csrf = careid_ui::csrf::CsrfKey::new(&csrf);
        let ui = Arc::new(
            Ui::new(protocol.clone(), accounts.clone(), themes, csrf)
                .with_lifecycle(lifecycle.clone()),
        );

        let readiness = health::Readiness::new(db.clone(), protocol.clone(), &config.database_url);
        let router = Router::new()
            .merge(careid_protocol::router(protocol.clone()))
            .merge(careid_ui::router(ui))
            .merge(health::router(Arc::new(readiness)))
            .merge(crate::admin::router(Arc::new(crate::admin::Admin {
                accounts: accounts.clone(),
                lifecycle: lifecycle.clone(),
                protocol: protocol.clone(),
            })))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ));
        let router = headers::secure(router, config.issuer.starts_with("https://"));
        let router = observe::layer(router);
        Ok(Self {
            router,
            protocol,
            accounts,
            lifecycle,
            db,
            client_files: Some(client_files),
            audit: config.audit,
        })
    }

    /// Starts what keeps this instance in step with the files and with other
    /// instances, until `stop` turns true: the client-file watcher (about once a second),
    /// the signing-key watcher (once a second), the back-channel logout sender (once a
    /// second), the pruning of idle rate-limit keys and, with `[audit] retention_days`,
    /// of old audit events (hourly). The client files are handed over on the first call;
    /// a second call starts the others only.
    pub fn watch(&mut self, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles = vec![
            tokio::spawn(jobs::watch_keys(self.protocol.clone(), stop.clone())),
            tokio::spawn(jobs::deliver_logouts(self.protocol.clone(), stop.clone())),
            tokio::spawn(jobs::forget_idle_limits(
                self.protocol.clone(),
                stop.clone(),
            )),
        ];
        if self.audit.retention_days.is_some() {
            handles.push(tokio::spawn(jobs::prune_audit_events(
                self.accounts.clone(),
                self.audit,
                stop.clone(),
            )));
        }
        if let Some(files) = self.client_files.take() {
            handles.push(tokio::spawn(clients::watch(
                files,
                self.protocol.clone(),
                stop,
            )));
        }
        handles
    }

    /// Serves on `listener` until `shutdown` completes. Peer addresses reach the
    /// handlers (audit, rate limits).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_never_reaches_the_logs() {
        assert_eq!(
            redact("postgres://careid:hunter2@db/careid"),
            "postgres://careid:***@db/careid"
        );
        assert_eq!(
            redact("sqlite://data/careid.db?mode=rwc"),
            "sqlite://data/careid.db?mode=rwc"
        );
    }
}
