//! Validated /authorize requests waiting for the person to finish signing in. Any
//! instance can finish one: the request lives here, not in a process.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*};
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "authorization_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub client_id: String,
        pub request: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Stores a request (serialised by the protocol crate) under a random id.
pub async fn insert_request(
    db: &impl ConnectionTrait,
    id: &str,
    client_id: &str,
    request: &serde_json::Value,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        id: Set(id.to_owned()),
        client_id: Set(client_id.to_owned()),
        request: Set(request.to_string()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The stored request, unless it has expired.
pub async fn find_live(
    db: &impl ConnectionTrait,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<serde_json::Value>, StoreError> {
    let Some(row) = Entity::find_by_id(id.to_owned())
        .filter(Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_str(&row.request)?))
}

/// Removes a request once it has been answered.
pub async fn delete_request(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Removes requests that expired before `now`.
pub async fn delete_expired(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}
