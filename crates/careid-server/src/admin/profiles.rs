//! `/admin/v1/accounts/{id}/profiles`: list an account's profiles, add one (a couple, a
//! dependent), rename and remove one. Renaming and removing call the same
//! `careid-accounts` functions as `careid profile rename|remove`, which own the rules
//! (names, never the last profile, what a removal ends).

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_accounts::{AccountsError, Profile};
use careid_store::accounts::Account;
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

/// A profile's new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRename {
    /// The display name, 1 to 200 characters.
    name: String,
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

/// Renames one of the account's profiles.
#[utoipa::path(
    patch,
    path = "/accounts/{id}/profiles/{profile_id}",
    tag = "profiles",
    params(
        ("id" = i64, Path, description = "The account's id"),
        ("profile_id" = i64, Path, description = "The profile's id"),
    ),
    request_body = ProfileRename,
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "The renamed profile", body = ProfileView),
        (status = 404, description = "No such account, or no such profile of it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn rename(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath((id, profile_id)): AdminPath<(i64, i64)>,
    AdminJson(new): AdminJson<ProfileRename>,
) -> Result<Json<ProfileView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let (account, profile) = profile_of(&admin, id, profile_id).await?;
    let renamed = admin
        .accounts
        .rename_profile(&account.email, &profile.subject, &new.name)
        .await
        .map_err(|err| match err {
            // The only field a rename checks.
            AccountsError::InvalidProfile(why) => AdminError::field("name", why),
            other => other.into(),
        })?;
    Ok(Json(renamed.into()))
}

/// Removes one of the account's profiles, never its last: its refresh tokens, consents
/// and pairwise subjects end, and sessions acting as it go back to choosing.
#[utoipa::path(
    delete,
    path = "/accounts/{id}/profiles/{profile_id}",
    tag = "profiles",
    params(
        ("id" = i64, Path, description = "The account's id"),
        ("profile_id" = i64, Path, description = "The profile's id"),
    ),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 204, description = "The profile is removed"),
        (status = 404, description = "No such account, or no such profile of it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is the account's last profile", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn remove(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath((id, profile_id)): AdminPath<(i64, i64)>,
) -> Result<StatusCode, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let (account, profile) = profile_of(&admin, id, profile_id).await?;
    admin
        .accounts
        .remove_profile(&account.email, &profile.subject)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account `id` and its profile `profile_id`: the service names profiles by email
/// and subject, the API by ids. A profile of another account is `UnknownProfile`.
async fn profile_of(
    admin: &Admin,
    id: i64,
    profile_id: i64,
) -> Result<(Account, Profile), AdminError> {
    let account = admin.accounts.account_by_id(id).await?;
    let profile = admin
        .accounts
        .profiles(id)
        .await?
        .into_iter()
        .find(|p| p.id == profile_id)
        .ok_or(AdminError::UnknownProfile)?;
    Ok((account, profile))
}
