//! OAuth 2.0 / OpenID Connect endpoints. Owns the wire format: discovery, JWKS,
//! /authorize, /token, /userinfo and the signing keys. Knows nothing of HTML: pages that
//! the flow needs (sign-in, error) belong to `careid-ui`, reached by redirect or through
//! the [`ErrorPage`] hook.

mod authorize;
mod client;
mod client_auth;
mod config;
mod discovery;
mod error;
mod grant;
mod grants;
mod jwks;
mod keys;
mod pending;
mod pkce;
mod scope;
pub mod session;
mod state;
mod token;
mod tokens;
mod userinfo;

use std::sync::Arc;

use axum::{Router, routing::get};

pub use client::{AuthMethod, Client, ClientSecret, Clients, GrantType};
pub use config::ProtocolConfig;
pub use error::ProtocolError;
pub use keys::{Keys, SigningAlg};
pub use pending::{PendingRequest, find_pending};
pub use state::{ErrorPage, PlainErrorPage, Protocol};

/// The protocol endpoints, mounted at the issuer's root.
pub fn router(state: Arc<Protocol>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::show))
        .route("/jwks", get(jwks::show))
        .route(
            "/authorize",
            get(authorize::start_get).post(authorize::start_post),
        )
        .route("/authorize/continue", get(authorize::resume))
        .route("/token", axum::routing::post(token::exchange))
        .route("/userinfo", get(userinfo::show).post(userinfo::show_post))
        .with_state(state)
}
