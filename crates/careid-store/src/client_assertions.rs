//! The `jti` of every client assertion careid accepted (RFC 7523 §3, OIDC Core §9),
//! kept until the assertion expires: a `jti` seen before is a replay.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::{ClientId, StoreError};

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::ClientId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "client_assertions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: ClientId,
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub expires_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Records that `client_id` used `jti` in an assertion valid until `expires_at`.
/// Returns `false` when the `jti` is still recorded from an earlier assertion: a replay.
///
/// The primary key decides, so two instances cannot both accept one `jti`. A record of
/// an assertion that has expired by `now` (not yet cleaned up) is taken over with one
/// conditional update, which only one instance can win.
pub async fn take_first_use(
    db: &impl ConnectionTrait,
    client_id: &ClientId,
    jti: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let inserted = ActiveModel {
        client_id: Set(client_id.to_owned()),
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await;
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Duplicate) => {
            let taken_over = Entity::update_many()
                .col_expr(Column::ExpiresAt, Expr::value(expires_at))
                .filter(Column::ClientId.eq(client_id))
                .filter(Column::Jti.eq(jti))
                .filter(Column::ExpiresAt.lte(now))
                .exec(db)
                .await?
                .rows_affected;
            Ok(taken_over == 1)
        }
        Err(err) => Err(err),
    }
}

/// Whether `client_id`'s `jti` is recorded from an assertion still valid at `now`: a
/// replay. A plain read, to refuse a replay before any work; [`take_first_use`] is what
/// decides under concurrency.
pub async fn is_recorded(
    db: &impl ConnectionTrait,
    client_id: &ClientId,
    jti: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let found = Entity::find_by_id((client_id.to_owned(), jti.to_owned()))
        .one(db)
        .await?;
    Ok(found.is_some_and(|row| row.expires_at > now))
}

/// Forgets the `jti`s of assertions that have expired by `now`.
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
