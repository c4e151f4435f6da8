//! One-time tokens: invitation and reset links, reset codes, magic links, PINs. Stored
//! as SHA-256 digests with a purpose, an expiry and `used_at`.

use sea_orm::{
    ActiveValue::Set,
    QueryFilter, QueryOrder,
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
};
use time::OffsetDateTime;

use crate::{AccountId, ClientId, StoreError};

pub use entity::Model as OneTimeToken;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{AccountId, ClientId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "one_time_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub digest: String,
        pub account_id: AccountId,
        pub purpose: String,
        pub client_id: Option<ClientId>,
        pub binding_digest: Option<String>,
        pub attempts: i32,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: TimeDateTimeWithTimeZone,
        pub used_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// SHA-256 digest of the secret.
    pub digest: String,
    /// The account it acts for.
    pub account_id: AccountId,
    /// `invitation`, `reset_link`, `reset_code`, `magic_link`, `admin_reset`, `pin`.
    pub purpose: &'static str,
    /// The client whose branding and flow it belongs to.
    pub client_id: Option<ClientId>,
    /// Digest of a browser binding, when the token is only good in one browser.
    pub binding_digest: Option<String>,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Stores a token. With `supersede`, older unused tokens of the same account and
/// purpose are used up first, in the same transaction as the caller's.
pub async fn insert_token(
    db: &impl ConnectionTrait,
    new: NewToken,
    supersede: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if supersede {
        update_superseded(db, new.account_id, new.purpose, now).await?;
    }
    ActiveModel {
        digest: Set(new.digest),
        account_id: Set(new.account_id),
        purpose: Set(new.purpose.to_owned()),
        client_id: Set(new.client_id),
        binding_digest: Set(new.binding_digest),
        attempts: Set(0),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The token with this digest and purpose, whatever its state (so a page can tell
/// "expired" from "unknown").
pub async fn find_by_digest(
    db: &impl ConnectionTrait,
    digest: &str,
    purpose: &str,
) -> Result<Option<OneTimeToken>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Digest.eq(digest))
        .filter(Column::Purpose.eq(purpose))
        .one(db)
        .await?)
}

/// Uses a token up. One conditional UPDATE: exactly one of concurrent takers wins.
pub async fn take_token(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Takes one of a code's `max` attempts before the guess is compared: one conditional
/// UPDATE, so concurrent guesses can never make more than `max` comparisons between them.
/// Returns the attempts made so far, this one included, or `None` when the code is used,
/// expired or out of attempts.
pub async fn take_attempt(
    db: &impl ConnectionTrait,
    id: i64,
    max: u32,
    now: OffsetDateTime,
) -> Result<Option<i32>, StoreError> {
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    let updated = Entity::update_many()
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .filter(Column::Attempts.lt(max))
        .exec_with_returning(db)
        .await?;
    Ok(updated.first().map(|token| token.attempts))
}

/// The newest token of the account and purpose that is neither used nor expired at `now`
/// (a reset code is found by its account, then compared; the index on
/// `(account_id, purpose)` serves it).
pub async fn find_live(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<Option<OneTimeToken>, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .order_by_desc(Column::Id)
        .one(db)
        .await?)
}

/// Gives back a token taken at `taken_at` whose use then failed for a reason the person
/// can fix (a password that breaks the rules): one conditional UPDATE, so only the taker's
/// own claim is undone.
pub async fn update_released(
    db: &impl ConnectionTrait,
    id: i64,
    taken_at: OffsetDateTime,
) -> Result<bool, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Option::<OffsetDateTime>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.eq(taken_at))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Uses up every unused token of the account and purpose, because a newer one replaces
/// them (a magic link: only the newest works). Returns how many were voided. The caller
/// inserts the newer one in the same transaction.
pub async fn update_superseded(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// The first token of the account and purpose issued after token `id`, if any: what
/// tells a superseded link (voided when its successor was made) from a used one.
pub async fn find_successor(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    purpose: &str,
    id: i64,
) -> Result<Option<OneTimeToken>, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::Id.gt(id))
        .order_by_asc(Column::Id)
        .one(db)
        .await?)
}
