//! `recovery_codes`: the digests of an account's single-use recovery codes and when each
//! was used. Making the codes and comparing them is `careid-accounts`' job.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::{AccountId, StoreError};

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::AccountId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recovery_codes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: AccountId,
        #[sea_orm(unique)]
        pub digest: String,
        pub used_at: Option<TimeDateTimeWithTimeZone>,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Replaces every recovery code of the account (used or not) with these digests. Run it
/// in the caller's transaction, so old codes stop working exactly when new ones start.
pub async fn replace_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    digests: Vec<String>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    delete_for_account(db, account_id).await?;
    let rows = digests.into_iter().map(|digest| ActiveModel {
        account_id: Set(account_id),
        digest: Set(digest),
        used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    });
    Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

/// Uses up the account's unused code with this digest. One conditional UPDATE: of two
/// requests with one code, exactly one wins.
pub async fn take_code(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    digest: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Digest.eq(digest))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// How many of the account's recovery codes are still unused.
pub async fn count_unused(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<u64, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::UsedAt.is_null())
        .count(db)
        .await?)
}

/// An account's set of recovery codes at a glance, for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverySet {
    /// Codes in the set, used or not.
    pub total: u64,
    /// Codes not used yet.
    pub unused: u64,
    /// When the set was made.
    pub created_at: OffsetDateTime,
    /// When a code of the set was last used, if ever.
    pub last_used_at: Option<OffsetDateTime>,
}

/// The account's set of recovery codes; `None` when it has none.
pub async fn find_set(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Option<RecoverySet>, StoreError> {
    let codes = Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .all(db)
        .await?;
    let Some(created_at) = codes.iter().map(|c| c.created_at).min() else {
        return Ok(None);
    };
    Ok(Some(RecoverySet {
        total: codes.len() as u64,
        unused: codes.iter().filter(|c| c.used_at.is_none()).count() as u64,
        created_at,
        last_used_at: codes.iter().filter_map(|c| c.used_at).max(),
    }))
}

/// Removes every recovery code of the account.
pub async fn delete_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<u64, StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
