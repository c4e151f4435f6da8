//! Password history: every hash an account has had, newest last. The policy compares a
//! new password with the newest few (DESIGN.md: the last five, the current one included).

use sea_orm::{ActiveValue::Set, QueryFilter, QueryOrder, QuerySelect, entity::prelude::*};
use time::OffsetDateTime;

use crate::{AccountId, StoreError};

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::AccountId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: AccountId,
        pub password_hash: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Appends a hash to the account's history.
pub async fn insert_entry(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    hash: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        account_id: Set(account_id),
        password_hash: Set(hash.to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The newest `limit` hashes, newest first.
pub async fn find_recent(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|entry| entry.password_hash)
        .collect())
}
