//! Initial access tokens for dynamic client registration (RFC 7591 §3), made by
//! `careid client token`. Only the SHA-256 digest is stored; the token is shown once.

use sea_orm::{ActiveValue::Set, entity::prelude::*};
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registration_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub digest: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Entity};

/// Stores the digest of a new initial access token.
pub async fn insert_token(
    db: &impl ConnectionTrait,
    digest: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        digest: Set(digest.to_owned()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Whether a token with this digest was made. The digest is the primary key, so the
/// lookup reveals nothing a digest comparison would not.
pub async fn exists(db: &impl ConnectionTrait, digest: &str) -> Result<bool, StoreError> {
    Ok(Entity::find_by_id(digest.to_owned())
        .one(db)
        .await?
        .is_some())
}
