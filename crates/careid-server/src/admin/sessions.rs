//! `/admin/v1/accounts/{id}/sessions`: an account's open careid sessions; end one or
//! all. Ending goes through the one session-ending function, so the clients that got
//! tokens in a session are told by back-channel logout.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_store::{AccountId, ProfileId, sessions::Session};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    ACCOUNTS_READ, ACCOUNTS_WRITE, Admin, AdminError,
    auth::Caller,
    problem::{AdminPath, Problem},
    rfc3339,
};

/// One open session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session's id, for ending it.
    pub id: i64,
    /// The public session id relying parties know (`sid`).
    pub sid: String,
    /// The chosen profile, once picked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub profile_id: Option<ProfileId>,
    /// How the person authenticated (RFC 8176 values).
    pub amr: Vec<String>,
    /// When the person authenticated.
    pub auth_time: String,
    /// The last request in the session.
    pub last_seen_at: String,
}

impl From<Session> for SessionView {
    fn from(session: Session) -> Self {
        Self {
            amr: session.amr(),
            id: session.id,
            sid: session.sid,
            profile_id: session.profile_id,
            auth_time: rfc3339(session.auth_time),
            last_seen_at: rfc3339(session.last_seen_at),
        }
    }
}

/// How many sessions an ending ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    /// The number of sessions that were open and are now ended.
    pub ended: usize,
}

/// The account's open sessions, oldest first.
#[utoipa::path(
    get,
    path = "/accounts/{id}/sessions",
    tag = "sessions",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.read"])),
    responses(
        (status = 200, description = "The open sessions", body = Vec<SessionView>),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<Vec<SessionView>>, AdminError> {
    caller.require(ACCOUNTS_READ)?;
    let sessions = admin.accounts.open_sessions(id).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// Ends every open session of the account (and its offline refresh tokens).
#[utoipa::path(
    delete,
    path = "/accounts/{id}/sessions",
    tag = "sessions",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "How many ended", body = Ended),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn end_all(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<Ended>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let ended = admin
        .accounts
        .end_all_sessions(id, Some(caller.client_id()))
        .await?;
    Ok(Json(Ended { ended }))
}

/// Ends one session of the account; ending one that already ended answers the same.
#[utoipa::path(
    delete,
    path = "/accounts/{id}/sessions/{session_id}",
    tag = "sessions",
    params(
        ("id" = i64, Path, description = "The account's id"),
        ("session_id" = i64, Path, description = "The session's id"),
    ),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 204, description = "The session is ended"),
        (status = 404, description = "No such account, or no such session of it", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn end_one(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath((id, session_id)): AdminPath<(AccountId, i64)>,
) -> Result<StatusCode, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    admin
        .accounts
        .end_account_session(id, session_id, Some(caller.client_id()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
