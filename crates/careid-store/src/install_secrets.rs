//! Secrets generated once per installation (the CSRF signing key…), kept in the database
//! so that every instance uses the same one.

use sea_orm::{ActiveValue::Set, entity::prelude::*, sea_query::OnConflict};
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "install_secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Entity};

/// The secret named `name`: the stored one, or `fresh` stored now if there was none.
/// Two instances starting at once both get whichever was stored first (the insert does
/// nothing on a conflict).
pub async fn find_or_insert(
    db: &impl ConnectionTrait,
    name: &str,
    fresh: &str,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    Entity::insert(ActiveModel {
        name: Set(name.to_owned()),
        value: Set(fresh.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(entity::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = Entity::find_by_id(name.to_owned()).one(db).await?;
    stored
        .map(|row| row.value)
        .ok_or_else(|| StoreError::Corrupt(format!("install secret {name} vanished")))
}
