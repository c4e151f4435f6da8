//! Initial access tokens for dynamic client registration (RFC 7591 §3), made by
//! `careid registration token issue`. Only the SHA-256 digest is stored; the token is
//! shown once. Each expires, and can be revoked; its id is the start of its digest.

use sea_orm::{ActiveValue::Set, QueryFilter, QueryOrder, entity::prelude::*, sea_query::Expr};
use time::{Duration, OffsetDateTime};

use crate::StoreError;

pub use entity::Model as RegistrationToken;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registration_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub digest: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: Option<TimeDateTimeWithTimeZone>,
        pub revoked_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// How long a token made before tokens had an expiry lives, from when it was made.
pub const LEGACY_LIFETIME: Duration = Duration::days(30);

/// How many hex digits of the digest name a token in listings and `revoke`.
pub const ID_LEN: usize = 12;

impl RegistrationToken {
    /// The short id a person types: the digest's first [`ID_LEN`] hex digits. The digest
    /// of a 256-bit random token says nothing about the token.
    pub fn id(&self) -> &str {
        &self.digest[..ID_LEN.min(self.digest.len())]
    }

    /// When it stops working.
    pub fn expiry(&self) -> OffsetDateTime {
        self.expires_at.unwrap_or(self.created_at + LEGACY_LIFETIME)
    }

    /// Whether it may be used at `now`: not revoked, not expired.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expiry() > now
    }
}

/// Stores the digest of a new initial access token that works until `expires_at`.
pub async fn insert_token(
    db: &impl ConnectionTrait,
    digest: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        digest: Set(digest.to_owned()),
        created_at: Set(now),
        expires_at: Set(Some(expires_at)),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Whether a token with this digest may register a client at `now`. The digest is the
/// primary key, so the lookup reveals nothing a digest comparison would not.
pub async fn is_usable(
    db: &impl ConnectionTrait,
    digest: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    Ok(Entity::find_by_id(digest.to_owned())
        .one(db)
        .await?
        .is_some_and(|token| token.is_usable(now)))
}

/// Every token, newest first.
pub async fn find_all(db: &impl ConnectionTrait) -> Result<Vec<RegistrationToken>, StoreError> {
    Ok(Entity::find()
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}

/// The tokens whose digest starts with `id` (lowercase hex).
pub async fn find_by_id_prefix(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Vec<RegistrationToken>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Digest.starts_with(id))
        .all(db)
        .await?)
}

/// Revokes the token with this digest, if it is not revoked yet: one conditional
/// statement. Returns whether this call revoked it.
pub async fn update_revoked(
    db: &impl ConnectionTrait,
    digest: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Digest.eq(digest))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
