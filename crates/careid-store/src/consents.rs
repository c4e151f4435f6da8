//! Consents: the scopes a profile has granted a third-party client.

use sea_orm::{
    ActiveValue::Set, QueryFilter, QueryOrder, entity::prelude::*, sea_query::OnConflict,
};
use time::OffsetDateTime;

use crate::{ClientId, ProfileId, StoreError};

pub use entity::Model as Consent;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{ClientId, ProfileId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consents")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub profile_id: ProfileId,
        pub client_id: ClientId,
        pub scopes: String,
        pub granted_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// The scopes (space-separated) this profile has granted the client.
pub async fn find_scopes(
    db: &impl ConnectionTrait,
    profile_id: ProfileId,
    client_id: &ClientId,
) -> Result<Option<String>, StoreError> {
    Ok(Entity::find()
        .filter(Column::ProfileId.eq(profile_id))
        .filter(Column::ClientId.eq(client_id))
        .one(db)
        .await?
        .map(|row| row.scopes))
}

/// Records the granted scopes, replacing an earlier grant.
pub async fn upsert(
    db: &impl ConnectionTrait,
    profile_id: ProfileId,
    client_id: &ClientId,
    scopes: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::insert(ActiveModel {
        profile_id: Set(profile_id),
        client_id: Set(client_id.to_owned()),
        scopes: Set(scopes.to_owned()),
        granted_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([Column::ProfileId, Column::ClientId])
            .update_columns([Column::Scopes, Column::GrantedAt])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Withdraws a consent.
pub async fn delete_consent(
    db: &impl ConnectionTrait,
    profile_id: ProfileId,
    client_id: &ClientId,
) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::ProfileId.eq(profile_id))
        .filter(Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Withdraws every consent a profile gave (the profile is being removed).
pub async fn delete_for_profile(
    db: &impl ConnectionTrait,
    profile_id: ProfileId,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ProfileId.eq(profile_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// Every consent given by these profiles, oldest first.
pub async fn find_for_profiles(
    db: &impl ConnectionTrait,
    profile_ids: &[ProfileId],
) -> Result<Vec<Consent>, StoreError> {
    Ok(Entity::find()
        .filter(Column::ProfileId.is_in(profile_ids.iter().copied()))
        .order_by_asc(Column::GrantedAt)
        .all(db)
        .await?)
}
