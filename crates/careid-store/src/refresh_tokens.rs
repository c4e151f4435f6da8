//! Refresh tokens: digests only, grouped in families. Each use rotates the token; a
//! rotated token seen again means it leaked, and the whole family is revoked.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::{AccountId, ClientId, ProfileId, StoreError};

pub use entity::Model as RefreshToken;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{AccountId, ClientId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub digest: String,
        pub family_id: String,
        pub client_id: ClientId,
        pub account_id: AccountId,
        pub grant: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: TimeDateTimeWithTimeZone,
        pub rotated_at: Option<TimeDateTimeWithTimeZone>,
        pub revoked_at: Option<TimeDateTimeWithTimeZone>,
        pub sid: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

impl RefreshToken {
    /// The grant this token carries.
    pub fn grant(&self) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::from_str(&self.grant)?)
    }
}

/// A refresh token to store.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// SHA-256 digest of the token.
    pub digest: String,
    /// The family: all tokens rotated from one code share it.
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The account it acts for.
    pub account_id: AccountId,
    /// The protocol crate's grant JSON.
    pub grant: serde_json::Value,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// The browser session it is bound to, so that it ends with it; `None` for an
    /// offline token (`offline_access`, OIDC Core §11), which outlives the session.
    pub sid: Option<String>,
}

/// Stores a new refresh token.
pub async fn insert_token(
    db: &impl ConnectionTrait,
    new: NewRefreshToken,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        digest: Set(new.digest),
        family_id: Set(new.family_id),
        client_id: Set(new.client_id),
        account_id: Set(new.account_id),
        grant: Set(new.grant.to_string()),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
        sid: Set(new.sid),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The token with this digest, whatever its state.
pub async fn find_by_digest(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Digest.eq(digest))
        .one(db)
        .await?)
}

/// Marks a live token rotated. One conditional UPDATE: of two concurrent rotations of
/// the same token exactly one returns `true`.
pub async fn take_for_rotation(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::RotatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::RotatedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Revokes every token of a family.
pub async fn revoke_family(
    db: &impl ConnectionTrait,
    family_id: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Revokes every token of an account (disable, expiry), or of one client of it.
pub async fn revoke_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    client_id: Option<&ClientId>,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut update = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::RevokedAt.is_null());
    if let Some(client_id) = client_id {
        update = update.filter(Column::ClientId.eq(client_id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Revokes the live tokens of `account_id` whose grant speaks for `profile_id` (the
/// profile is being removed). The grant is stored as JSON, so the account's live tokens
/// are read through the account index and the profile is matched here; the caller's
/// transaction holds the account, so no token of it is written in between.
pub async fn revoke_for_profile(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    profile_id: ProfileId,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let live = Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::RevokedAt.is_null())
        .all(db)
        .await?;
    let ids: Vec<i64> = live
        .iter()
        .filter(|token| {
            token
                .grant()
                .ok()
                .and_then(|grant| grant.get("profile_id").and_then(serde_json::Value::as_i64))
                == Some(profile_id.get())
        })
        .map(|token| token.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Id.is_in(ids))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Revokes the tokens bound to the sessions `sids` (they end with them). Served by the
/// index on `sid`.
pub async fn revoke_for_sessions(
    db: &impl ConnectionTrait,
    sids: &[String],
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    if sids.is_empty() {
        return Ok(0);
    }
    Ok(Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Sid.is_in(sids.iter().cloned()))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Revokes an account's offline tokens (those bound to no session): a password change
/// or reset ends them, though they outlive a sign-out.
pub async fn revoke_offline_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Sid.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}
