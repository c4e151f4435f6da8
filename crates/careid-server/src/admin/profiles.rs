//! `/admin/v1/accounts/{id}/profiles`: list an account's profiles, add one (a couple, a
//! dependent), rename and remove one. Each calls the same `careid-accounts` function as
//! `careid profile add|rename|remove`, which owns the rules (names, emails, birthdates,
//! never the last profile, what a removal ends) and the audit event.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_accounts::{NewProfileFields, Profile, ProfileKind};
use careid_store::{AccountId, ProfileId, accounts::Account};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ACCOUNTS_READ, ACCOUNTS_WRITE, Admin, AdminError,
    accounts::MAX_EMAIL,
    auth::Caller,
    problem::{AdminJson, AdminPath, Problem},
};

/// One profile: who a relying party sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    /// The profile's id.
    #[schema(value_type = i64)]
    pub id: ProfileId,
    /// The OIDC `sub` relying parties see (public subject).
    pub subject: String,
    /// `self`, `couple` or `dependent`.
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
    /// `couple` or `dependent` (`self` comes with the account).
    kind: String,
    /// The display name, 1 to 200 characters.
    name: String,
    /// The profile's own email, if any.
    #[serde(default)]
    email: Option<String>,
    /// Date of birth, `YYYY-MM-DD`, if given (OIDC `birthdate`).
    #[serde(default)]
    birthdate: Option<String>,
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
    AdminPath(id): AdminPath<AccountId>,
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
    AdminPath(id): AdminPath<AccountId>,
    AdminJson(new): AdminJson<NewProfile>,
) -> Result<(StatusCode, Json<ProfileView>), AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let kind = ProfileKind::parse(&new.kind)
        .filter(|kind| *kind != ProfileKind::Own)
        .ok_or_else(|| AdminError::field("kind", "couple or dependent"))?;
    if new
        .email
        .as_ref()
        .is_some_and(|email| email.len() > MAX_EMAIL)
    {
        return Err(AdminError::field("email", "not an email address"));
    }
    let fields = NewProfileFields {
        name: new.name,
        kind,
        email: new.email,
        birthdate: new.birthdate,
    };
    let profile = admin.accounts.add_profile_for(id, fields).await?;
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
    AdminPath((id, profile_id)): AdminPath<(AccountId, ProfileId)>,
    AdminJson(new): AdminJson<ProfileRename>,
) -> Result<Json<ProfileView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let (account, profile) = profile_of(&admin, id, profile_id).await?;
    let renamed = admin
        .accounts
        .rename_profile(&account.email, &profile.subject, &new.name)
        .await?;
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
    AdminPath((id, profile_id)): AdminPath<(AccountId, ProfileId)>,
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
    id: AccountId,
    profile_id: ProfileId,
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
