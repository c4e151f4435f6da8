//! `/admin/v1/accounts`: create (active with a password, or invited), list with filters,
//! read, change (`require_mfa`), resend the invitation, disable, enable, reactivate, unlock and delete. Each
//! handler calls the same `careid-accounts` function as the CLI.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use careid_accounts::{AccountState, AccountsError, INVITATION_STATES};
use careid_policy::PlainPassword;
use careid_store::accounts::{Account, AccountFilter, Status};
use careid_store::{AccountId, ClientId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ACCOUNTS_READ, ACCOUNTS_WRITE, Admin, AdminError,
    auth::Caller,
    problem::{AdminJson, AdminPath, AdminQuery, Problem},
    rfc3339,
};

/// The longest email careid stores (RFC 5321 §4.5.3.1.3's path limit, less `<>`).
pub const MAX_EMAIL: usize = 254;
/// The longest display name.
pub const MAX_NAME: usize = 200;
/// The longest password the API accepts; the rules decide the rest.
const MAX_PASSWORD: usize = 1024;

/// One account as an administrator sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// The account's id, used in every path below `/accounts/{id}`.
    #[schema(value_type = i64)]
    pub id: AccountId,
    /// The normalised email; also the username.
    pub email: String,
    /// `invited`, `active`, `disabled` or `expired`.
    pub status: String,
    /// `none` (created with a password), `not_sent`, `sent`, `written_to_outbox` (the
    /// outbox mail transport wrote it to a file), `opened` or `accepted`.
    pub invitation_state: String,
    /// Whether a password is set.
    pub has_password: bool,
    /// Whether too many wrong passwords lock the account now.
    pub locked: bool,
    /// Until when, if locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
    /// Wrong passwords since the last sign-in or unlock.
    pub failed_attempts: i32,
    /// Whether this person must sign in with a second factor at every client (a client
    /// can require one too); set with `PATCH /accounts/{id}`.
    pub require_mfa: bool,
    /// The last interactive sign-in, if any (only on a single account's read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<String>,
    /// The last sign-in, activation or reactivation: the inactivity clock's start.
    pub last_activity_at: String,
    /// When it was disabled, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// When it expired for inactivity, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<String>,
    /// When it was created.
    pub created_at: String,
}

impl AccountView {
    fn of(account: &Account, now: time::OffsetDateTime) -> Self {
        let locked = careid_policy::is_locked(account.locked_until, now);
        Self {
            id: account.id,
            email: account.email.clone(),
            status: account.status().as_str().to_owned(),
            invitation_state: account.invitation_state.clone(),
            has_password: account.password_hash.is_some(),
            locked,
            locked_until: account.locked_until.filter(|_| locked).map(rfc3339),
            failed_attempts: account.failed_attempts,
            require_mfa: account.require_mfa,
            last_sign_in_at: None,
            last_activity_at: rfc3339(account.activity_at),
            disabled_at: account.disabled_at.map(rfc3339),
            expired_at: account.expired_at.map(rfc3339),
            created_at: rfc3339(account.created_at),
        }
    }

    fn of_state(state: &AccountState, now: time::OffsetDateTime) -> Self {
        Self {
            last_sign_in_at: state.last_sign_in_at.map(rfc3339),
            ..Self::of(&state.account, now)
        }
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    /// The accounts, by id.
    pub items: Vec<AccountView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Filters and the page of `GET /accounts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only accounts in this status: `invited`, `active`, `disabled`, `expired`.
    status: Option<String>,
    /// Only accounts in this invitation state: `none`, `not_sent`, `sent`,
    /// `written_to_outbox`, `opened`, `accepted`.
    invitation_state: Option<String>,
    /// Only accounts whose email starts with this (case-insensitive).
    email_prefix: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Accounts per page, 1 to 200 (50 by default).
    limit: Option<u64>,
}

/// Reads a page cursor (the last id of the previous page, as text).
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, AdminError> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AdminError::field("cursor", "not a cursor this API returned"))
        })
        .transpose()
}

/// Checks a page size: 1 to `MAX_PAGE`, 50 when absent.
pub fn parse_limit(limit: Option<u64>) -> Result<u64, AdminError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=careid_accounts::MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(AdminError::field(
            "limit",
            format!("from 1 to {}", careid_accounts::MAX_PAGE),
        )),
    }
}

/// Lists accounts, filtered, by id, a page at a time.
#[utoipa::path(
    get,
    path = "/accounts",
    tag = "accounts",
    params(ListQuery),
    security(("oauth2" = ["admin:accounts.read"])),
    responses(
        (status = 200, description = "A page of accounts", body = AccountList),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminQuery(query): AdminQuery<ListQuery>,
) -> Result<Json<AccountList>, AdminError> {
    caller.require(ACCOUNTS_READ)?;
    let status = query
        .status
        .as_deref()
        .map(|s| Status::parse(s).ok_or_else(|| AdminError::field("status", "not a status")))
        .transpose()?;
    if let Some(state) = &query.invitation_state
        && !INVITATION_STATES.contains(&state.as_str())
    {
        return Err(AdminError::field(
            "invitation_state",
            "not an invitation state",
        ));
    }
    if query
        .email_prefix
        .as_ref()
        .is_some_and(|p| p.len() > MAX_EMAIL)
    {
        return Err(AdminError::field("email_prefix", "too long"));
    }
    let filter = AccountFilter {
        status,
        invitation_state: query.invitation_state,
        email_prefix: query.email_prefix.map(|p| p.trim().to_lowercase()),
    };
    let after = parse_cursor(query.cursor.as_deref())?;
    let limit = parse_limit(query.limit)?;
    let page = admin.accounts.list_accounts(&filter, after, limit).await?;
    let now = admin.accounts.clock.now();
    Ok(Json(AccountList {
        items: page.items.iter().map(|a| AccountView::of(a, now)).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// A new account: with a password it is active at once; without one it is invited and
/// its activation link is emailed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The person's email; also their username.
    email: String,
    /// The person's name (the self profile's display name).
    #[serde(default)]
    name: String,
    /// The first password; omit it to invite the person instead.
    #[serde(default)]
    password: Option<String>,
    /// The client whose name and theme the invitation carries (careid's own without).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    branding_client: Option<ClientId>,
}

/// Creates an account, or returns the existing one with this email (200): a retry of a
/// creation never makes a duplicate.
#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    request_body = NewAccount,
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 201, description = "Created (and, without a password, invited)", body = AccountView),
        (status = 200, description = "An account with this email exists already", body = AccountView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field or password", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminJson(new): AdminJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountView>), AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    if new.email.len() > MAX_EMAIL {
        return Err(AdminError::field(
            "email",
            format!("at most {MAX_EMAIL} characters"),
        ));
    }
    if new.name.chars().count() > MAX_NAME {
        return Err(AdminError::field(
            "name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if new
        .password
        .as_ref()
        .is_some_and(|p| p.len() > MAX_PASSWORD)
    {
        return Err(AdminError::field(
            "password",
            format!("at most {MAX_PASSWORD} bytes"),
        ));
    }
    let branding = admin.branding(new.branding_client.as_ref()).await?;
    let created = match new.password {
        Some(password) => {
            let password = PlainPassword::new(password);
            admin
                .accounts
                .create_account(&new.email, &new.name, password.clone(), password)
                .await
        }
        None => admin
            .lifecycle
            .invite(
                &new.email,
                &new.name,
                &branding,
                new.branding_client.as_ref(),
            )
            .await
            .map(|invitation| invitation.account),
    };
    let (status, account) = match created {
        Ok(account) => (StatusCode::CREATED, account),
        Err(AccountsError::EmailTaken) => (
            StatusCode::OK,
            admin.accounts.account_by_email(&new.email).await?,
        ),
        Err(err) => return Err(err.into()),
    };
    let state = admin.accounts.account_state(account.id).await?;
    let now = admin.accounts.clock.now();
    Ok((status, Json(AccountView::of_state(&state, now))))
}

/// Reads one account: status, invitation state, last sign-in, lock state.
#[utoipa::path(
    get,
    path = "/accounts/{id}",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.read"])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn read(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_READ)?;
    let state = admin.accounts.account_state(id).await?;
    Ok(Json(AccountView::of_state(
        &state,
        admin.accounts.clock.now(),
    )))
}

/// What `PATCH /accounts/{id}` may change; an absent field stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    /// Require a second factor of this person at every client (`true`), or stop
    /// requiring it (`false`; a client's own `require_mfa` still applies).
    #[serde(default)]
    require_mfa: Option<bool>,
}

/// Changes an account's settings: for now, whether it must use a second factor. Each
/// change is audited (`require_mfa_changed`).
#[utoipa::path(
    patch,
    path = "/accounts/{id}",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    request_body = AccountChange,
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "The account as it now stands", body = AccountView),
        (status = 400, description = "Malformed JSON, or a field this API does not know", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
    AdminJson(change): AdminJson<AccountChange>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    if let Some(require_mfa) = change.require_mfa {
        admin.accounts.set_require_mfa(id, require_mfa).await?;
    }
    read_back(&admin, id).await
}

/// Deletes the account with its profiles, sessions (its clients are told by back-channel
/// logout), tokens and consents. Deleting an account that is gone answers the same.
#[utoipa::path(
    delete,
    path = "/accounts/{id}",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.write"])),
    responses((status = 204, description = "The account does not exist (any more)")),
)]
pub async fn delete(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<StatusCode, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    admin
        .accounts
        .delete_account(id, Some(caller.client_id()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which client's name and theme a mail carries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrandingQuery {
    /// A client id; careid's own branding without.
    #[param(value_type = Option<String>)]
    branding_client: Option<ClientId>,
}

/// Sends an invited account a new activation link; older links stop working.
#[utoipa::path(
    post,
    path = "/accounts/{id}/invitation",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id"), BrandingQuery),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "Sent (see invitation_state: `sent`, or `not_sent` when mail failed)", body = AccountView),
        (status = 409, description = "The account is not invited", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn resend_invitation(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
    AdminQuery(query): AdminQuery<BrandingQuery>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    let account = admin.accounts.account_by_id(id).await?;
    let branding = admin.branding(query.branding_client.as_ref()).await?;
    admin
        .lifecycle
        .resend_invitation(&account.email, &branding, query.branding_client.as_ref())
        .await?;
    read_back(&admin, id).await
}

/// Disables the account: it cannot sign in and its sessions and tokens end now.
#[utoipa::path(
    post,
    path = "/accounts/{id}/disable",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "Disabled", body = AccountView),
        (status = 409, description = "Already disabled", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn disable(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    admin.accounts.disable(id).await?;
    read_back(&admin, id).await
}

/// Enables a disabled account (active, or invited when it never accepted).
#[utoipa::path(
    post,
    path = "/accounts/{id}/enable",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "Enabled", body = AccountView),
        (status = 409, description = "Not disabled", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn enable(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    admin.accounts.enable(id).await?;
    read_back(&admin, id).await
}

/// Reactivates an account that expired for inactivity.
#[utoipa::path(
    post,
    path = "/accounts/{id}/reactivate",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.write"])),
    responses(
        (status = 200, description = "Reactivated", body = AccountView),
        (status = 409, description = "Not expired", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn reactivate(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    admin.accounts.reactivate(id).await?;
    read_back(&admin, id).await
}

/// Clears a lock from wrong passwords (harmless on an account that is not locked).
#[utoipa::path(
    post,
    path = "/accounts/{id}/unlock",
    tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    security(("oauth2" = ["admin:accounts.write"])),
    responses((status = 200, description = "Unlocked", body = AccountView)),
)]
pub async fn unlock(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    AdminPath(id): AdminPath<AccountId>,
) -> Result<Json<AccountView>, AdminError> {
    caller.require(ACCOUNTS_WRITE)?;
    admin.accounts.unlock(id).await?;
    read_back(&admin, id).await
}

/// The account as it stands after an action.
async fn read_back(admin: &Admin, id: AccountId) -> Result<Json<AccountView>, AdminError> {
    let state = admin.accounts.account_state(id).await?;
    Ok(Json(AccountView::of_state(
        &state,
        admin.accounts.clock.now(),
    )))
}
