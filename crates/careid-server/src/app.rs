//! Builds the whole server from a config and a clock: database, keys, clients, the
//! protocol and page routers, and the layers around them.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::DefaultBodyLimit};
use careid_accounts::Accounts;
use careid_protocol::{Clients, Keys, Protocol};
use careid_store::{Clock, DatabaseConnection};
use careid_ui::{ThemedErrorPage, Themes, Ui};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::{Config, clients, headers};

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
    /// The database pool.
    pub db: DatabaseConnection,
}

impl App {
    /// Migrates the database, loads or creates keys, loads clients and wires routes.
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        careid_store::migrate(&config.database_url)
            .await
            .with_context(|| format!("migrating {}", redact(&config.database_url)))?;
        let db = careid_store::connect(&config.database_url, config.database_max_connections)
            .await
            .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
        let keys = Keys::load_or_create(&db, clock.now())
            .await
            .context("loading signing keys")?;

        let (loaded, problems) = clients::load_dir(&config.clients_dir);
        for problem in &problems {
            tracing::error!(%problem, "client file not loaded");
        }
        let themes = Arc::new(Themes::new(config.themes_dir.clone()).context("loading themes")?);
        let protocol = Arc::new(Protocol::new(
            db.clone(),
            clock.clone(),
            &config.issuer,
            config.tokens.clone(),
            config.session,
            config.policy.inactivity_expiry_days,
            Clients::new(loaded),
            keys,
            Arc::new(ThemedErrorPage::new(themes.clone())),
        ));
        let accounts = Arc::new(Accounts::new(db.clone(), clock, config.accounts()));
        let ui = Arc::new(Ui::new(protocol.clone(), accounts.clone(), themes));

        let router = Router::new()
            .merge(careid_protocol::router(protocol.clone()))
            .merge(careid_ui::router(ui))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ));
        let router = headers::secure(router);
        Ok(Self {
            router,
            protocol,
            accounts,
            db,
        })
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
