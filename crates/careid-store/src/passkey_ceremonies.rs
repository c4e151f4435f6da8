//! `passkey_ceremonies`: WebAuthn ceremonies under way (issue 17). A ceremony is the
//! state webauthn-rs needs to check the browser's answer (its challenge above all), kept
//! here so that any instance can finish what another started, under the SHA-256 digest of
//! the handle the browser holds. Taking a ceremony deletes it: one statement, so of two
//! answers to one challenge only one is ever checked (a replay finds nothing).

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*};
use time::OffsetDateTime;

use crate::{AccountId, StoreError};

pub use entity::Model as Ceremony;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::AccountId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "passkey_ceremonies")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub digest: String,
        pub purpose: String,
        pub account_id: Option<AccountId>,
        pub state: String,
        pub expires_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// A ceremony to store.
#[derive(Debug, Clone)]
pub struct NewCeremony {
    /// SHA-256 digest of the handle the browser holds.
    pub digest: String,
    /// What it is for: `register`, `second_factor`, `sign_in`.
    pub purpose: &'static str,
    /// The account it is for; `None` for a sign-in that does not know yet.
    pub account_id: Option<AccountId>,
    /// The webauthn-rs state, as JSON.
    pub state: String,
    /// When it stops being answerable.
    pub expires_at: OffsetDateTime,
}

/// Stores a ceremony.
pub async fn insert_ceremony(
    db: &impl ConnectionTrait,
    new: NewCeremony,
) -> Result<(), StoreError> {
    ActiveModel {
        digest: Set(new.digest),
        purpose: Set(new.purpose.to_owned()),
        account_id: Set(new.account_id),
        state: Set(new.state),
        expires_at: Set(new.expires_at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Reads and deletes the unexpired ceremony of `purpose` under `digest`. The DELETE is
/// the check: of two requests with one handle, exactly one gets the ceremony.
pub async fn take_ceremony(
    db: &impl ConnectionTrait,
    digest: &str,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<Option<Ceremony>, StoreError> {
    let Some(found) = Entity::find()
        .filter(Column::Digest.eq(digest))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let deleted = Entity::delete_many()
        .filter(Column::Id.eq(found.id))
        .exec(db)
        .await?;
    Ok((deleted.rows_affected == 1).then_some(found))
}

/// Removes ceremonies nobody finished; how many.
pub async fn delete_expired(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
