//! Accounts: one login each. Creating an account also creates its first ("self") profile
//! and, when it has a password, the first entry of its password history.

use sea_orm::{
    ActiveValue::Set, QueryFilter, QueryOrder, QuerySelect, entity::prelude::*, sea_query::Expr,
};
use time::OffsetDateTime;

use crate::{AccountId, StoreError, password_history, profiles};

pub use entity::Model as Account;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::AccountId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: AccountId,
        #[sea_orm(unique)]
        pub email: String,
        pub password_hash: Option<String>,
        pub status: String,
        pub invitation_state: String,
        pub activity_at: TimeDateTimeWithTimeZone,
        pub failed_attempts: i32,
        pub lockouts: i32,
        pub locked_until: Option<TimeDateTimeWithTimeZone>,
        pub disabled_at: Option<TimeDateTimeWithTimeZone>,
        pub expired_at: Option<TimeDateTimeWithTimeZone>,
        /// Whether this person must sign in with a second factor, whichever client asks
        /// (issue 17; a client can require one too).
        pub require_mfa: bool,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Where an account stands (DESIGN.md: invited, active, disabled, expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created by staff; the person has not set a password yet.
    Invited,
    /// May sign in.
    Active,
    /// Switched off by an administrator.
    Disabled,
    /// Unused for longer than the inactivity limit; an administrator reactivates it.
    Expired,
}

impl Status {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invited" => Self::Invited,
            "active" => Self::Active,
            "disabled" => Self::Disabled,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

impl Account {
    /// The account's status; an unknown stored value reads as disabled, the safe side.
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Disabled)
    }
}

/// What an administrator or the CLI supplies to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Normalised email (see [`normalise_email`]).
    pub email: String,
    /// PHC string of the first password, if any.
    pub password_hash: Option<String>,
    /// Starting status.
    pub status: Status,
    /// Invitation state: `not_sent`, `sent`, `opened`, `accepted` (or `none`).
    pub invitation_state: &'static str,
    /// Display name of the self profile.
    pub name: String,
    /// The OIDC subject of the self profile.
    pub subject: String,
}

/// Emails are compared trimmed and lower-cased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates the account, its self profile and its first password-history entry in one
/// transaction. A taken email is `StoreError::Duplicate`.
pub async fn insert_account(
    db: &crate::Db,
    new: NewAccount,
    now: OffsetDateTime,
) -> Result<Account, StoreError> {
    let txn = db.begin().await?;
    let account = ActiveModel {
        email: Set(new.email.clone()),
        password_hash: Set(new.password_hash.clone()),
        status: Set(new.status.as_str().to_owned()),
        invitation_state: Set(new.invitation_state.to_owned()),
        activity_at: Set(now),
        failed_attempts: Set(0),
        lockouts: Set(0),
        locked_until: Set(None),
        disabled_at: Set(None),
        expired_at: Set(None),
        require_mfa: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    profiles::insert_profile(
        &txn,
        profiles::NewProfile {
            account_id: account.id,
            subject: new.subject,
            kind: "self".into(),
            name: new.name,
            email: Some(new.email),
            birthdate: None,
        },
        now,
    )
    .await?;
    if let Some(hash) = new.password_hash {
        password_history::insert_entry(&txn, account.id, &hash, now).await?;
    }
    txn.commit().await?;
    Ok(account)
}

/// The account with this (normalised) email.
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<Account>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Email.eq(normalise_email(email)))
        .one(db)
        .await?)
}

/// The account with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: AccountId,
) -> Result<Option<Account>, StoreError> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Whether no account exists yet (first start).
pub async fn is_empty(db: &impl ConnectionTrait) -> Result<bool, StoreError> {
    Ok(Entity::find().one(db).await?.is_none())
}

/// The account with this id, its row locked until the transaction ends (PostgreSQL's
/// `FOR UPDATE`; SQLite serialises writers anyway). For read-modify-write of counters,
/// so that concurrent failed sign-ins on several instances each count.
pub async fn find_by_id_for_update(
    db: &impl ConnectionTrait,
    id: AccountId,
) -> Result<Option<Account>, StoreError> {
    Ok(Entity::find_by_id(id).lock_exclusive().one(db).await?)
}

/// All accounts, by email.
pub async fn find_all(db: &impl ConnectionTrait) -> Result<Vec<Account>, StoreError> {
    Ok(Entity::find().order_by_asc(Column::Email).all(db).await?)
}

/// Records an interactive sign-in: resets the failure counters and restarts the
/// inactivity clock. `rehashed` replaces a hash made with older parameters.
pub async fn update_signed_in(
    db: &impl ConnectionTrait,
    id: AccountId,
    rehashed: Option<String>,
    now: OffsetDateTime,
) -> Result<Option<Account>, StoreError> {
    let mut update = Entity::update_many()
        .col_expr(Column::FailedAttempts, Expr::value(0))
        .col_expr(Column::Lockouts, Expr::value(0))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<OffsetDateTime>::None),
        )
        .col_expr(Column::ActivityAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if let Some(hash) = rehashed {
        update = update.col_expr(Column::PasswordHash, Expr::value(hash));
    }
    // The account as it now stands comes back with the write, not from a second read.
    let mut updated = update
        .filter(Column::Id.eq(id))
        .exec_with_returning(db)
        .await?;
    Ok(updated.pop())
}

/// Records a failed password: the new counters as the lockout policy computed them.
pub async fn update_failed(
    db: &impl ConnectionTrait,
    id: AccountId,
    failed_attempts: u32,
    lockouts: u32,
    locked_until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::FailedAttempts, Expr::value(failed_attempts as i32))
        .col_expr(Column::Lockouts, Expr::value(lockouts as i32))
        .col_expr(Column::LockedUntil, Expr::value(locked_until))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the status, stamping `disabled_at` / `expired_at` to match.
pub async fn update_status(
    db: &impl ConnectionTrait,
    id: AccountId,
    status: Status,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    update = match status {
        Status::Disabled => update.col_expr(Column::DisabledAt, Expr::value(now)),
        Status::Expired => update.col_expr(Column::ExpiredAt, Expr::value(now)),
        Status::Active => update
            .col_expr(
                Column::DisabledAt,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(
                Column::ExpiredAt,
                Expr::value(Option::<OffsetDateTime>::None),
            ),
        Status::Invited => update,
    };
    update.filter(Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// Sets a new password hash (the caller adds it to the history in the same transaction).
pub async fn update_password(
    db: &impl ConnectionTrait,
    id: AccountId,
    hash: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(hash))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets whether the account must sign in with a second factor; the account as it now
/// stands, `None` if there is none with this id.
pub async fn update_require_mfa(
    db: &impl ConnectionTrait,
    id: AccountId,
    require_mfa: bool,
    now: OffsetDateTime,
) -> Result<Option<Account>, StoreError> {
    let mut updated = Entity::update_many()
        .col_expr(Column::RequireMfa, Expr::value(require_mfa))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec_with_returning(db)
        .await?;
    Ok(updated.pop())
}

/// Restarts the inactivity clock (activation, reactivation).
pub async fn update_activity(
    db: &impl ConnectionTrait,
    id: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::ActivityAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the invitation state (`not_sent`, `sent`, `opened`, `accepted`).
pub async fn update_invitation_state(
    db: &impl ConnectionTrait,
    id: AccountId,
    state: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::InvitationState, Expr::value(state))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the invitation state to `state` only while it is one of `from`, in one
/// conditional UPDATE; returns whether it changed (so "opened" is recorded once, and an
/// accepted invitation never goes back to "opened").
pub async fn update_invitation_state_from(
    db: &impl ConnectionTrait,
    id: AccountId,
    from: &[&str],
    state: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::InvitationState, Expr::value(state))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::InvitationState.is_in(from.iter().copied()))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Active accounts whose last activity is before `cutoff` (the inactivity sweep).
pub async fn find_idle_since(
    db: &impl ConnectionTrait,
    cutoff: OffsetDateTime,
) -> Result<Vec<Account>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Status.eq(Status::Active.as_str()))
        .filter(Column::ActivityAt.lt(cutoff))
        .all(db)
        .await?)
}

/// Which accounts a listing shows; every field left `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only accounts in this status.
    pub status: Option<Status>,
    /// Only accounts in this invitation state (`none`, `not_sent`, `sent`, `opened`,
    /// `accepted`).
    pub invitation_state: Option<String>,
    /// Only accounts whose (normalised) email starts with this.
    pub email_prefix: Option<String>,
}

/// Up to `limit` accounts matching `filter` with an id above `after`, by id: keyset
/// pagination on the primary key, so a page never repeats or skips an account however
/// many are added meanwhile (new ones get higher ids and appear on later pages).
pub async fn find_page(
    db: &impl ConnectionTrait,
    filter: &AccountFilter,
    after: Option<AccountId>,
    limit: u64,
) -> Result<Vec<Account>, StoreError> {
    let mut query = Entity::find();
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(state) = &filter.invitation_state {
        query = query.filter(Column::InvitationState.eq(state.as_str()));
    }
    if let Some(prefix) = &filter.email_prefix {
        // LIKE's wildcards in the prefix are taken literally.
        let escaped = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query = query.filter(sea_orm::sea_query::ExprTrait::like(
            Expr::col(Column::Email),
            sea_orm::sea_query::LikeExpr::new(format!("{escaped}%")).escape('\\'),
        ));
    }
    Ok(query.order_by_asc(Column::Id).limit(limit).all(db).await?)
}

/// Clears the failed-attempt counters and the lock, in one statement. `false` when no
/// account has this id.
pub async fn update_unlocked(
    db: &impl ConnectionTrait,
    id: AccountId,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::FailedAttempts, Expr::value(0))
        .col_expr(Column::Lockouts, Expr::value(0))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<OffsetDateTime>::None),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Deletes the account; its profiles (and their consents), password history, one-time
/// tokens, sessions and refresh tokens go with it (foreign keys `ON DELETE CASCADE`).
/// `false` when it was already gone.
pub async fn delete_account(db: &impl ConnectionTrait, id: AccountId) -> Result<bool, StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_trimmed_and_lower_cased() {
        assert_eq!(normalise_email("  Ada@Example.ORG "), "ada@example.org");
    }

    #[test]
    fn every_status_round_trips_through_its_spelling() {
        for status in [
            Status::Invited,
            Status::Active,
            Status::Disabled,
            Status::Expired,
        ] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
    }
}
