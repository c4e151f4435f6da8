//! `/admin/v1/accounts/{id}/pins`: issue a sign-in PIN for the client portal (returned
//! once, never stored in plain text) and void it, as `careid pin issue|void` do. The
//! rules (lifetime bounds, a newer PIN voiding the older, which statuses may have one)
//! are `careid_accounts::Lifecycle`'s.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_store::{AccountId, ClientId};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;

use super::{
    Admin, AdminError, PINS,
    auth::Caller,
    problem::{AdminJson, AdminPath, Problem},
    rfc3339,
};

/// What PIN to issue; `{}` takes the defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPin {
    /// How long the PIN works, in minutes: at least 1, at most
    /// `lifecycle.pin_max_minutes` (`lifecycle.pin_minutes` when absent).
    #[serde(default)]
    expires_in_minutes: Option<u32>,
    /// The portal the PIN is for (e.g. `client-portal`), kept in the audit trail.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    client_id: Option<ClientId>,
}

/// A PIN just issued. It is in this answer only: tell it to the person.
#[derive(Debug, Serialize, ToSchema)]
pub struct PinView {
    /// The six digits.
    pub pin: String,
    /// When it stops working.
    pub expires_at: String,
}

/// Whether a void found a PIN.
#[derive(Debug, Serialize, ToSchema)]
pub struct Voided {
    /// `true` when a working PIN was voided, `false` when the account had none.
    pub voided: bool,
}

/// Issues a 6-digit sign-in PIN for the account; any older PIN of it stops working.
#[utoipa::path(
    post,
    path = "/accounts/{id}/pins",
    tag = "pins",
    params(("id" = i64, Path, description = "The account's id")),
    request_body = NewPin,
    security(("oauth2" = ["admin:pins"])),
    responses(
        (status = 201, description = "The PIN, shown this once", body = PinView),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is disabled or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Expiry out of bounds or unknown client", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn issue(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
    AdminJson(new): AdminJson<NewPin>,
) -> Result<(StatusCode, Json<PinView>), AdminError> {
    caller.require(PINS)?;
    let account = admin.accounts.account_by_id(id).await?;
    if let Some(client_id) = new.client_id.as_ref()
        && admin.protocol.find_client(client_id).await?.is_none()
    {
        return Err(AdminError::field("client_id", "names no configured client"));
    }
    // The bounds are the service's (`PinLifetimeOutOfRange`), as for the CLI.
    let lifetime = new
        .expires_in_minutes
        .map(|minutes| Duration::minutes(i64::from(minutes)));
    let issued = admin
        .lifecycle
        .issue_pin(&account.email, lifetime, new.client_id.as_ref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PinView {
            pin: issued.pin.as_str().to_owned(),
            expires_at: rfc3339(issued.expires_at),
        }),
    ))
}

/// Voids the account's working PIN; voiding when there is none answers `voided: false`.
#[utoipa::path(
    delete,
    path = "/accounts/{id}/pins",
    tag = "pins",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:pins"])),
    responses(
        (status = 200, description = "Whether a PIN was voided", body = Voided),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn void(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<Voided>, AdminError> {
    caller.require(PINS)?;
    let account = admin.accounts.account_by_id(id).await?;
    let voided = admin.lifecycle.void_pin(&account.email).await?;
    Ok(Json(Voided { voided }))
}
