//! `/admin/v1/accounts/{id}/audit-events`: an account's audit trail, newest first, a
//! page at a time.

use std::sync::Arc;

use axum::{Json, extract::State};
use careid_store::{AccountId, ClientId, audit::AuditEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AUDIT_READ, Admin, AdminError,
    accounts::{parse_cursor, parse_limit},
    auth::Caller,
    problem::{AdminPath, AdminQuery, Problem},
    rfc3339,
};

/// One recorded event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// The event's id.
    pub id: i64,
    /// When it happened.
    pub at: String,
    /// What happened: `sign_in`, `sign_in_failed`, `account_disabled`, `admin_api_call`…
    pub kind: String,
    /// The client involved, if any (for admin API calls, the calling portal).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub client_id: Option<ClientId>,
    /// The client address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Anything else recorded, never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEvent> for EventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            at: rfc3339(event.at),
            detail: serde_json::from_str(&event.detail).unwrap_or_default(),
            kind: event.kind,
            client_id: event.client_id,
            ip: event.ip,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The events, newest first.
    pub items: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The page of `GET /audit-events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events per page, 1 to 200 (50 by default).
    limit: Option<u64>,
}

/// The account's audit events, newest first.
#[utoipa::path(
    get,
    path = "/accounts/{id}/audit-events",
    tag = "audit",
    params(("id" = i64, Path, description = "The account's id"), PageQuery),
    security(("oauth2" = ["admin:audit.read"])),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
    AdminQuery(query): AdminQuery<PageQuery>,
) -> Result<Json<EventList>, AdminError> {
    caller.require(AUDIT_READ)?;
    let before = parse_cursor(query.cursor.as_deref())?;
    let limit = parse_limit(query.limit)?;
    let page = admin.accounts.account_events(id, before, limit).await?;
    Ok(Json(EventList {
        items: page.items.into_iter().map(EventView::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}
