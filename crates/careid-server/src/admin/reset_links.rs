//! `/admin/v1/accounts/{id}/reset-links`: a password-reset link with a chosen expiry,
//! returned to the portal and mailed to the person when asked, as `careid user
//! reset-link` does.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_store::{AccountId, ClientId};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;

use super::{
    ACCOUNTS_WRITE, Admin, AdminError,
    auth::Caller,
    problem::{AdminJson, AdminPath, Problem},
    rfc3339,
};

/// What link to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResetLink {
    /// How long the link works, in minutes: at least 1, at most
    /// `lifecycle.admin_reset_max_days`.
    expires_in_minutes: u32,
    /// Also email the link to the person.
    #[serde(default)]
    send: bool,
    /// The client whose name and theme the mail and pages carry.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    branding_client: Option<ClientId>,
}

/// A reset link that was made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetLinkView {
    /// The link; whoever holds it can set the account's password until it expires.
    pub link: String,
    /// When it stops working.
    pub expires_at: String,
    /// Whether the mail went out; absent when no mail was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<bool>,
}

/// Makes a password-reset link for the account; older admin links stop working.
#[utoipa::path(
    post,
    path = "/accounts/{id}/reset-links",
    tag = "reset links",
    params(("id" = i64, Path, description = "The account's id")),
    request_body = NewResetLink,
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 201, description = "The link", body = ResetLinkView),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account cannot reset (disabled, invited…)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Expiry out of bounds", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn issue(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
    AdminJson(new): AdminJson<NewResetLink>,
) -> Result<(StatusCode, Json<ResetLinkView>), AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let account = admin.accounts.account_by_id(id).await?;
    let branding = admin.branding(new.branding_client.as_ref()).await?;
    // The bounds themselves are the service's (`LifetimeOutOfRange`), as for the CLI.
    let lifetime = Duration::minutes(i64::from(new.expires_in_minutes));
    let issued = admin
        .lifecycle
        .issue_admin_reset_link(
            &account.email,
            lifetime,
            new.send,
            &branding,
            new.branding_client.as_ref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ResetLinkView {
            link: issued.link,
            expires_at: rfc3339(issued.expires_at),
            sent: issued.is_sent,
        }),
    ))
}
