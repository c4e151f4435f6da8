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

/// Keys not yet retired, oldest generation first.
pub async fn find_unretired(db: &impl ConnectionTrait) -> Result<Vec<SigningKey>, StoreError> {
    Ok(Entity::find()
        .filter(Column::RetiredAt.is_null())
        .order_by_asc(Column::Alg)
        .order_by_asc(Column::Generation)
        .all(db)
        .await?)
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

/// Retires a key: no longer published or used.
pub async fn update_retired(
    db: &impl ConnectionTrait,
    kid: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::RetiredAt, sea_orm::sea_query::Expr::value(now))
        .filter(Column::Kid.eq(kid))
        .exec(db)
        .await?;
    Ok(())
}
