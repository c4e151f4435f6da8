//! The admin API under `/admin/v1/`: the portals manage accounts, invitations, reset
//! links, sign-in PINs, profiles, sessions and read the audit trail from their own
//! screens. One module per resource; `auth` checks the caller's client_credentials token
//! (the `Caller` extractor every handler takes) and audits each call; `problem` renders
//! errors as RFC 9457 problem details; `openapi` serves the OpenAPI 3.1 document that
//! utoipa builds from the same route declarations, so the two cannot drift. The rules
//! are `careid-accounts`'s: handlers validate input, call one service function and shape
//! the answer.

mod accounts;
mod audit;
mod auth;
mod openapi;
mod pins;
mod problem;
mod profiles;
mod reset_links;
mod sessions;

use std::sync::Arc;

use crate::rfc3339;
use axum::{Router, extract::DefaultBodyLimit, middleware};
use careid_accounts::{Accounts, Branding, Lifecycle};
use careid_protocol::Protocol;
use careid_store::ClientId;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use auth::{ACCOUNTS_READ, ACCOUNTS_WRITE, AUDIT_READ, PINS};
pub use problem::{AdminError, PROBLEM_BASE};

/// Admin request bodies are small JSON objects; anything larger is refused with a
/// `body-too-large` problem before it is read.
const BODY_LIMIT: usize = 16 * 1024;

/// What the admin handlers share.
pub struct Admin {
    /// The account service.
    pub accounts: Arc<Accounts>,
    /// Invitations and reset links by email.
    pub lifecycle: Arc<Lifecycle>,
    /// Token verification and the clients (for branding).
    pub protocol: Arc<Protocol>,
}

impl Admin {
    /// The branding a mail carries: that of the client `client_id`, or careid's own.
    async fn branding(&self, client_id: Option<&ClientId>) -> Result<Branding, AdminError> {
        let Some(id) = client_id else {
            return Ok(Branding::default());
        };
        let client = self
            .protocol
            .find_client(id)
            .await?
            .ok_or(AdminError::UnknownClient)?;
        Ok(careid_ui::client_branding(&client))
    }
}

/// The admin API's routes and its OpenAPI document, both from one declaration.
pub fn api(admin: Arc<Admin>) -> (Router, utoipa::openapi::OpenApi) {
    let protected = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(accounts::list, accounts::create))
        .routes(routes!(accounts::read, accounts::update, accounts::delete))
        .routes(routes!(accounts::resend_invitation))
        .routes(routes!(accounts::disable))
        .routes(routes!(accounts::enable))
        .routes(routes!(accounts::reactivate))
        .routes(routes!(accounts::unlock))
        .routes(routes!(reset_links::issue))
        .routes(routes!(pins::issue, pins::void))
        .routes(routes!(profiles::list, profiles::add))
        .routes(routes!(profiles::rename, profiles::remove))
        .routes(routes!(sessions::list, sessions::end_all))
        .routes(routes!(sessions::end_one))
        .routes(routes!(audit::list))
        .layer(middleware::from_fn_with_state(
            admin.clone(),
            auth::audit_calls,
        ))
        .routes(routes!(openapi::show))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(admin);
    OpenApiRouter::new()
        .nest(careid_protocol::ADMIN_API_PATH, protected)
        .split_for_parts()
}

/// The admin API, ready to merge into careid's router: [`api`] with its document
/// served at `/admin/v1/openapi.json`.
pub fn router(admin: Arc<Admin>) -> Router {
    let (router, doc) = api(admin);
    router.layer(axum::Extension(openapi::Document::new(&doc)))
}
