//! `/admin/v1/accounts/{id}/profiles`: list an account's profiles and add one (a couple,
//! a dependent). Renaming and removing are left to the PIN and profile work (issue 14).

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_accounts::Profile;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ACCOUNTS_READ, ACCOUNTS_WRITE, Admin, AdminError,
    accounts::{MAX_EMAIL, MAX_NAME},
    auth::Caller,
    problem::{AdminJson, AdminPath, Problem},
};

/// The kinds of profile an administrator may add; `self` comes with the account.
const KINDS: [&str; 3] = ["couple", "dependent", "other"];

/// One profile: who a relying party sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    /// The profile's id.
    pub id: i64,
    /// The OIDC `sub` relying parties see (public subject).
    pub subject: String,
    /// `self`, `couple`, `dependent` or `other`.
    pub kind: String,
    /// The display name.
    pub name: String,
    /// The profile's email, if it has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl From<Profile> for ProfileView {
    fn from(profile: Profile) -> Self {
        Self {
            id: profile.id,
            subject: profile.subject,
            kind: profile.kind,
            name: profile.name,
            email: profile.email,
        }
    }
}

/// A profile to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProfile {
    /// `couple`, `dependent` or `other`.
    kind: String,
    /// The display name, 1 to 200 characters.
    name: String,
    /// The profile's own email, if any.
    #[serde(default)]
    email: Option<String>,
}

/// The account's profiles, self first.
#[utoipa::path(
    get,
    path = "/accounts/{id}/profiles",
    tag = "profiles",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.read"])),
    responses(
        (status = 200, description = "The profiles", body = Vec<ProfileView>),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<i64>,
) -> Result<Json<Vec<ProfileView>>, AdminError> {
    caller.require(ACCOUNTS_READ)?;
    admin.accounts.account_by_id(id).await?;
    let profiles = admin.accounts.profiles(id).await?;
    Ok(Json(profiles.into_iter().map(ProfileView::from).collect()))
}

/// Adds a profile after the account's existing ones, with a fresh subject.
#[utoipa::path(
    post,
    path = "/accounts/{id}/profiles",
    tag = "profiles",
    params(("id" = i64, Path, description = "The account's id")),
    request_body = NewProfile,
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 201, description = "The new profile", body = ProfileView),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn add(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<i64>,
    AdminJson(new): AdminJson<NewProfile>,
) -> Result<(StatusCode, Json<ProfileView>), AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    if !KINDS.contains(&new.kind.as_str()) {
        return Err(AdminError::field("kind", "one of couple, dependent, other"));
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(AdminError::field(
            "name",
            format!("1 to {MAX_NAME} characters"),
        ));
    }
    let email = match new.email {
        Some(email) => {
            let email = careid_store::accounts::normalise_email(&email);
            if email.len() > MAX_EMAIL || !careid_mail::is_valid_address(&email) {
                return Err(AdminError::field("email", "not an email address"));
            }
            Some(email)
        }
        None => None,
    };
    admin.accounts.account_by_id(id).await?;
    let profile = admin
        .accounts
        .add_profile(id, &new.kind, name, email)
        .await?;
    Ok((StatusCode::CREATED, Json(profile.into())))
}
