//! Dynamically registered clients. Clients from `config/clients/*.toml` live in the
//! config files; these are the ones created over HTTP (RFC 7591).

use sea_orm::{ActiveValue::Set, QueryFilter, QueryOrder, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::{ClientId, StoreError};

pub use entity::Model as StoredClient;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::ClientId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: ClientId,
        pub metadata: String,
        pub secret_digest: Option<String>,
        pub registration_token_digest: Option<String>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Entity};

/// Stores a registered client.
pub async fn insert_client(
    db: &impl ConnectionTrait,
    id: &ClientId,
    metadata: &serde_json::Value,
    secret_digest: Option<String>,
    registration_token_digest: Option<String>,
    now: OffsetDateTime,
) -> Result<StoredClient, StoreError> {
    Ok(ActiveModel {
        id: Set(id.to_owned()),
        metadata: Set(metadata.to_string()),
        secret_digest: Set(secret_digest),
        registration_token_digest: Set(registration_token_digest),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The registered client with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: &ClientId,
) -> Result<Option<StoredClient>, StoreError> {
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// Removes a registered client.
pub async fn delete_client(db: &impl ConnectionTrait, id: &ClientId) -> Result<(), StoreError> {
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Replaces a registered client's metadata and secret digest (RFC 7592 §2.2).
pub async fn update_client(
    db: &impl ConnectionTrait,
    id: &ClientId,
    metadata: &serde_json::Value,
    secret_digest: Option<String>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(entity::Column::Metadata, Expr::value(metadata.to_string()))
        .col_expr(entity::Column::SecretDigest, Expr::value(secret_digest))
        .col_expr(entity::Column::UpdatedAt, Expr::value(now))
        .filter(entity::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Every registered client, oldest first.
pub async fn find_all(db: &impl ConnectionTrait) -> Result<Vec<StoredClient>, StoreError> {
    Ok(Entity::find()
        .order_by_asc(entity::Column::CreatedAt)
        .all(db)
        .await?)
}
