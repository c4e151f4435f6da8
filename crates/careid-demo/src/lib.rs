//! Demo relying parties: a small CRM, EMR and client portal that sign people in with
//! careid, so that single sign-on can be clicked through rather than read about.
//!
//! Each demo is a real OpenID Connect client built on the `openidconnect` crate:
//! discovery, the code flow with PKCE, ID token validation, UserInfo, refresh, RP-initiated
//! logout and a back-channel logout receiver. Its own session is a cookie holding a random
//! id mapped in memory: a demo keeps nothing on disk and is not meant for production.
//!
//! `careid demo` (in `careid-server`) serves them; tests serve them on ephemeral ports.

mod backchannel;
mod config;
mod error;
mod html;
mod pages;
mod provider;
mod sessions;

use std::sync::Arc;

use axum::{
    Router,
    routing::{get, post},
};

pub use config::DemoRp;
pub use error::DemoError;

/// One running demo: its configuration, its view of careid and its signed-in browsers.
pub struct Demo {
    rp: DemoRp,
    provider: provider::Lazy,
    sessions: sessions::Sessions,
}

impl Demo {
    /// A demo for `rp`; careid is discovered on the first sign-in, so the demo may start
    /// before careid does.
    pub fn new(rp: DemoRp) -> Arc<Self> {
        Arc::new(Self {
            rp,
            provider: provider::Lazy::default(),
            sessions: sessions::Sessions::default(),
        })
    }
}

/// The demo's pages and its back-channel logout receiver.
pub fn router(demo: Arc<Demo>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login))
        .route("/callback", get(pages::callback))
        .route("/refresh", post(pages::refresh))
        .route("/logout", post(pages::logout))
        .route("/backchannel", post(backchannel::receive))
        .with_state(demo)
}

/// Serves `demo` on `listener` until `shutdown` completes.
pub async fn serve(
    demo: Arc<Demo>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(demo))
        .with_graceful_shutdown(shutdown)
        .await
}
