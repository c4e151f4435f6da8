//! Pairwise subjects (OIDC Core §8.1): the installation's salt, made once and shared
//! by every instance, and which profile each pairwise `sub` stands for. Deriving the
//! `sub` is `careid-protocol`'s; this module only keeps what it needs.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*};
use time::OffsetDateTime;

use crate::{AccountId, ProfileId, StoreError};

pub(crate) mod subject_entity {
    use sea_orm::entity::prelude::*;

    use crate::ProfileId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pairwise_subjects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        pub profile_id: ProfileId,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The name the salt is kept under in `install_secrets`.
const SALT: &str = "pairwise_salt";

/// The installation's pairwise salt: the stored one, or `candidate`, stored now, if
/// there is none yet. Two instances starting together agree: the insert does nothing
/// when a salt is there, and both then read the one that won.
pub async fn find_or_insert_salt(
    db: &impl ConnectionTrait,
    candidate: &str,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    crate::install_secrets::find_or_insert(db, SALT, candidate, now).await
}

/// Records that the pairwise `subject` stands for `profile_id`. Seeing it again changes
/// nothing.
pub async fn insert_subject(
    db: &impl ConnectionTrait,
    subject: &str,
    profile_id: ProfileId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    use subject_entity::{ActiveModel, Column, Entity};
    Entity::insert(ActiveModel {
        subject: Set(subject.to_owned()),
        profile_id: Set(profile_id),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::Subject])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The profile a pairwise `subject` stands for.
pub async fn find_profile_id(
    db: &impl ConnectionTrait,
    subject: &str,
) -> Result<Option<ProfileId>, StoreError> {
    use subject_entity::Entity;
    Ok(Entity::find_by_id(subject.to_owned())
        .one(db)
        .await?
        .map(|row| row.profile_id))
}

/// Forgets every pairwise `sub` of a profile (it is being removed), so none of them
/// names anyone any more. Served by `ix_pairwise_subjects_profile`.
pub async fn delete_for_profile(
    db: &impl ConnectionTrait,
    profile_id: ProfileId,
) -> Result<u64, StoreError> {
    use subject_entity::{Column, Entity};
    Ok(Entity::delete_many()
        .filter(Column::ProfileId.eq(profile_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// Forgets every pairwise `sub` of every profile of an account (it is being deleted): the
/// table has no foreign key to profiles, so the cascade would leave them naming a
/// profile that is gone. One statement.
pub async fn delete_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<u64, StoreError> {
    use crate::profiles::entity as profile;
    use subject_entity::{Column, Entity};
    let profiles = sea_orm::sea_query::Query::select()
        .column(profile::Column::Id)
        .from(profile::Entity)
        .and_where(profile::Column::AccountId.eq(account_id))
        .to_owned();
    Ok(Entity::delete_many()
        .filter(Column::ProfileId.in_subquery(profiles))
        .exec(db)
        .await?
        .rows_affected)
}
