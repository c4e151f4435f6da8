//! OAuth 2.0 / OpenID Connect endpoints. Owns the wire format: discovery, JWKS,
//! /authorize, /token, /userinfo, /introspect, /revoke, /end_session (with back-channel
//! logout) and the signing keys. Knows nothing of HTML: pages that the flow needs
//! (sign-in, sign-out, error) belong to `careid-ui`, reached by redirect or through the
//! [`ErrorPage`] hook.

mod access_token;
pub mod acr;
mod authorize;
mod backchannel;
mod claims;
mod client;
mod client_address;
mod client_assertion;
mod client_auth;
mod client_metadata;
mod client_request;
mod config;
mod discovery;
mod egress;
mod end_session;
mod error;
mod form;
#[doc(hidden)]
pub mod fuzzing;
mod grant;
mod grants;
mod introspect;
mod jwks;
mod key_encryption;
mod keys;
mod leave;
mod logout;
mod page_problem;
mod params;
mod pending;
mod pkce;
mod prepared_signer;
mod rate_limit;
mod register;
mod revoke;
mod scope;
pub mod session;
mod state;
mod subject;
mod token;
mod token_kind;
mod tokens;
mod userinfo;

use std::sync::Arc;

use axum::{Router, routing::get};

pub use access_token::{AdminToken, bearer, verify_admin_token};
pub use authorize::{deny_consent, record_consent};
pub use backchannel::{DeliveryCounts, deliver_due};
pub use client::{
    ADMIN_SCOPES, AuthMethod, Client, ClientSecret, Clients, GrantType, InlineJwks, KeySource,
    ResetMode, SubjectType, is_admin_scope,
};
pub use client_address::{ClientAddress, KnowsProxies, TrustedProxies};
pub use client_metadata::registered_client;
pub use config::{ProtocolConfig, RegistrationConfig, RegistrationMode};
pub use egress::Reach;
pub use end_session::{LogoutRefused, LogoutTarget};
pub use error::ProtocolError;
pub use key_encryption::Kek;
pub use keys::{AccessTokenAlg, KeyInfo, Keys, SigningAlg};
pub use leave::{Leaving, PersonActed};
pub use logout::{browser_session, end_browser_session, sign_out_browser};
pub use page_problem::PageProblem;
pub use pending::record_profile_choice;
pub use pending::{PendingRequest, find_pending};
pub use rate_limit::{
    AccountLimits, AddressLimit, Bucket, ClientLimits, Limit, RateLimitConfig, RateLimited,
    RateLimits,
};
pub use state::{ErrorPage, PlainErrorPage, Protocol};
pub use tokens::{ADMIN_API_PATH, admin_audience};

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
        .route("/introspect", axum::routing::post(introspect::introspect))
        .route("/revoke", axum::routing::post(revoke::revoke))
        .route(
            "/end_session",
            get(end_session::end_get).post(end_session::end_post),
        )
        .route("/register", axum::routing::post(register::create))
        .route(
            "/register/{client_id}",
            get(register::read)
                .put(register::update)
                .delete(register::delete),
        )
        .with_state(state)
}
