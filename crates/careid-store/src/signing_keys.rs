//! Signing keys, shared by every instance through the database.

use sea_orm::{ActiveValue::Set, QueryFilter, QueryOrder, entity::prelude::*};
use time::OffsetDateTime;

use crate::StoreError;

pub use entity::Model as SigningKey;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub alg: String,
        pub generation: i32,
        pub private_pem: String,
        pub public_jwk: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub active_from: TimeDateTimeWithTimeZone,
        pub retired_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Keys still published at `now` (not retired, or retiring later), by algorithm, oldest
/// generation first.
pub async fn find_published(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<Vec<SigningKey>, StoreError> {
    Ok(Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(Column::RetiredAt.is_null())
                .add(Column::RetiredAt.gt(now)),
        )
        .order_by_asc(Column::Alg)
        .order_by_asc(Column::Generation)
        .all(db)
        .await?)
}

/// Every key, retired ones too, by algorithm, oldest generation first.
pub async fn find_all(db: &impl ConnectionTrait) -> Result<Vec<SigningKey>, StoreError> {
    Ok(Entity::find()
        .order_by_asc(Column::Alg)
        .order_by_asc(Column::Generation)
        .all(db)
        .await?)
}

/// The highest generation of `alg` ever stored, retired keys included.
pub async fn find_max_generation(
    db: &impl ConnectionTrait,
    alg: &str,
) -> Result<Option<i32>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Alg.eq(alg))
        .order_by_desc(Column::Generation)
        .one(db)
        .await?
        .map(|key| key.generation))
}

/// Replaces a key's stored private part, if it is still `old` (another instance may
/// have replaced it first). Returns whether this call replaced it.
pub async fn update_private_pem(
    db: &impl ConnectionTrait,
    kid: &str,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let outcome = Entity::update_many()
        .col_expr(
            Column::PrivatePem,
            sea_orm::sea_query::Expr::value(new.to_owned()),
        )
        .filter(Column::Kid.eq(kid))
        .filter(Column::PrivatePem.eq(old))
        .exec(db)
        .await?;
    Ok(outcome.rows_affected == 1)
}

/// Stores a key. Returns `false` when another instance stored the same algorithm's
/// generation first (the unique index decides), in which case the caller reloads.
pub async fn insert_key(db: &impl ConnectionTrait, key: SigningKey) -> Result<bool, StoreError> {
    let outcome = ActiveModel {
        kid: Set(key.kid),
        alg: Set(key.alg),
        generation: Set(key.generation),
        private_pem: Set(key.private_pem),
        public_jwk: Set(key.public_jwk),
        created_at: Set(key.created_at),
        active_from: Set(key.active_from),
        retired_at: Set(None),
    }
    .insert(db)
    .await;
    match outcome.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Duplicate) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Retires a key: it stops signing at once and stops being published at `at`. Returns
/// `false` if the key is unknown or already retired.
pub async fn update_retired(
    db: &impl ConnectionTrait,
    kid: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let outcome = Entity::update_many()
        .col_expr(Column::RetiredAt, sea_orm::sea_query::Expr::value(at))
        .filter(Column::Kid.eq(kid))
        .filter(Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    Ok(outcome.rows_affected == 1)
}
