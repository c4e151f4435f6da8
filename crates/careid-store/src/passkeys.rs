//! `passkeys`: an account's registered WebAuthn credentials (issue 17). Each row keeps
//! the name the person gave it, the webauthn-rs `Passkey` as JSON (`careid-accounts`
//! reads and verifies it; this module never looks inside), its credential id (unique:
//! one credential belongs to one account) and the account's WebAuthn user handle.

use sea_orm::{
    ActiveValue::Set,
    QueryFilter, QueryOrder, QueryTrait,
    entity::prelude::*,
    sea_query::{Alias, Expr, Query},
};
use time::OffsetDateTime;

use crate::{AccountId, PasskeyId, StoreError, totp_factors};

pub use entity::Model as StoredPasskey;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{AccountId, PasskeyId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "passkeys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: PasskeyId,
        pub account_id: AccountId,
        pub user_handle: String,
        #[sea_orm(unique)]
        pub credential_id: String,
        pub name: String,
        pub passkey: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub last_used_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// A passkey to store.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    /// The account it signs in to.
    pub account_id: AccountId,
    /// The account's WebAuthn user handle (a UUID as text).
    pub user_handle: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// What the person calls it.
    pub name: String,
    /// The webauthn-rs `Passkey`, as JSON.
    pub passkey: String,
}

/// Which second factors an account has, read in one statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondFactors {
    /// A confirmed authenticator app.
    pub has_totp: bool,
    /// At least one passkey.
    pub has_passkey: bool,
}

impl SecondFactors {
    /// Whether a password alone is not enough to sign in.
    pub fn is_any(self) -> bool {
        self.has_totp || self.has_passkey
    }
}

/// The account's passkeys, oldest first.
pub async fn find_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Vec<StoredPasskey>, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .order_by_asc(Column::Id)
        .all(db)
        .await?)
}

/// The passkey with this credential id (base64url), whoever's it is.
pub async fn find_by_credential_id(
    db: &impl ConnectionTrait,
    credential_id: &str,
) -> Result<Option<StoredPasskey>, StoreError> {
    Ok(Entity::find()
        .filter(Column::CredentialId.eq(credential_id))
        .one(db)
        .await?)
}

/// Whether the account has a confirmed authenticator app and whether it has a passkey:
/// one statement, so a password sign-in costs no more for knowing both.
pub async fn find_second_factors(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<SecondFactors, StoreError> {
    use totp_factors::entity as totp;
    let totp = totp::Entity::find()
        .filter(totp::Column::AccountId.eq(account_id))
        .filter(totp::Column::ConfirmedAt.is_not_null())
        .into_query();
    let passkey = Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .into_query();
    // CASE gives an integer on both databases (EXISTS is a boolean on PostgreSQL only);
    // its literals are written out, since PostgreSQL types bound ones as text.
    let flag = |exists| Expr::case(Expr::exists(exists), Expr::cust("1")).finally(Expr::cust("0"));
    let select = Query::select()
        .expr_as(flag(totp), Alias::new("has_totp"))
        .expr_as(flag(passkey), Alias::new("has_passkey"))
        .to_owned();
    let statement = db.get_database_backend().build(&select);
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(SecondFactors::default());
    };
    Ok(SecondFactors {
        has_totp: row.try_get::<i32>("", "has_totp")? == 1,
        has_passkey: row.try_get::<i32>("", "has_passkey")? == 1,
    })
}

/// Stores a newly registered passkey. `Duplicate` when its credential id is registered
/// already (to this account or another).
pub async fn insert_passkey(
    db: &impl ConnectionTrait,
    new: NewPasskey,
    now: OffsetDateTime,
) -> Result<StoredPasskey, StoreError> {
    Ok(ActiveModel {
        account_id: Set(new.account_id),
        user_handle: Set(new.user_handle),
        credential_id: Set(new.credential_id),
        name: Set(new.name),
        passkey: Set(new.passkey),
        created_at: Set(now),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Renames one of the account's passkeys. `false` when the account has no such passkey.
pub async fn update_name(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    id: PasskeyId,
    name: &str,
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::Name, Expr::value(name))
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Records a sign-in with the passkey: its updated state (signature counter, backup
/// state) and when. `false` when it was removed meanwhile.
pub async fn update_used(
    db: &impl ConnectionTrait,
    id: PasskeyId,
    passkey: String,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::Passkey, Expr::value(passkey))
        .col_expr(Column::LastUsedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Removes one of the account's passkeys. `false` when the account has no such passkey.
pub async fn delete_passkey(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    id: PasskeyId,
) -> Result<bool, StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Removes every passkey of the account; how many there were.
pub async fn delete_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<u64, StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
