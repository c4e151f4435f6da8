//! Access tokens are self-contained JWTs; revoking one records its `jti` here until the
//! token would have expired anyway.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*};
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_access_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub expires_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Denies the token `jti` until `expires_at`. Revoking twice is not an error.
pub async fn insert_revoked(
    db: &impl ConnectionTrait,
    jti: &str,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    let outcome = ActiveModel {
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await;
    match outcome.map_err(StoreError::from) {
        Ok(_) | Err(StoreError::Duplicate) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Whether `jti` has been revoked.
pub async fn is_revoked(
    db: &impl ConnectionTrait,
    jti: &str,
    grant: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(Entity::find()
        .filter(Column::Jti.is_in(keys(jti, grant)))
        .one(db)
        .await?
        .is_some())
}

/// The condition "neither the token `jti` nor its grant is revoked", for a query that
/// reads something else in the same statement.
pub(crate) fn is_not_revoked(jti: &str, grant: Option<&str>) -> Expr {
    use sea_orm::sea_query::ExprTrait;
    let revoked = sea_orm::sea_query::Query::select()
        .expr(Expr::val(1))
        .from(Entity)
        .and_where(Column::Jti.is_in(keys(jti, grant)))
        .to_owned();
    Expr::exists(revoked).not()
}

/// One lookup answers both: the token itself, and the grant it was issued from.
pub(crate) fn keys(jti: &str, grant: Option<&str>) -> Vec<String> {
    let mut keys = vec![jti.to_owned()];
    keys.extend(grant.map(grant_key));
    keys
}

/// Denies every access token issued from the grant `grant` (its `gid` claim) until
/// `expires_at`, when the last of them has expired (RFC 6749 §4.1.2, RFC 7009 §2.1).
pub async fn insert_revoked_grant(
    db: &impl ConnectionTrait,
    grant: &str,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    insert_revoked(db, &grant_key(grant), expires_at).await
}

/// A grant's row key: prefixed, so that no `jti` can collide with it.
fn grant_key(grant: &str) -> String {
    format!("grant:{grant}")
}

/// Forgets revocations of tokens that have expired by now.
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
