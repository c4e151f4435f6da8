//! Validated /authorize requests waiting for the person to finish signing in. Any
//! instance can finish one: the request lives here, not in a process.

use sea_orm::{
    ActiveValue::Set,
    QueryFilter,
    entity::prelude::*,
    sea_query::{Expr, ExprTrait, Func, Query},
};
use time::OffsetDateTime;

use crate::{ClientId, StoreError};

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::ClientId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "authorization_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub client_id: ClientId,
        pub request: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: TimeDateTimeWithTimeZone,
        /// The address the request came from; `None` when the server did not know it.
        pub client_ip: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Stores a request (serialised by the protocol crate) under a random id.
pub async fn insert_request(
    db: &impl ConnectionTrait,
    id: &str,
    client_id: &ClientId,
    request: &serde_json::Value,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        id: Set(id.to_owned()),
        client_id: Set(client_id.to_owned()),
        request: Set(request.to_string()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        client_ip: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A new request to keep, and where it came from.
pub struct NewRequest<'a> {
    /// Its random id.
    pub id: &'a str,
    /// The client that sent the person.
    pub client_id: &'a ClientId,
    /// The request, serialised by the protocol crate.
    pub request: &'a serde_json::Value,
    /// The client address.
    pub client_ip: &'a str,
    /// When it stops being usable.
    pub expires_at: OffsetDateTime,
}

/// Stores a request unless `client_ip` already has `max_pending` live ones; `false`
/// when it is refused. One `INSERT … SELECT … WHERE (count) < max` statement, so the cap
/// is checked by the write itself rather than by a read before it.
pub async fn insert_request_capped(
    db: &impl ConnectionTrait,
    new: NewRequest<'_>,
    max_pending: u32,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let live_from_address = Query::select()
        .expr(Func::count(Expr::col(Column::Id)))
        .from(Entity)
        .and_where(Expr::col(Column::ClientIp).eq(new.client_ip))
        .and_where(Expr::col(Column::ExpiresAt).gt(now))
        .to_owned();
    let values = Query::select()
        .exprs([
            Expr::val(new.id),
            Expr::val(new.client_id),
            Expr::val(new.request.to_string()),
            Expr::val(now),
            Expr::val(new.expires_at),
            Expr::val(new.client_ip),
        ])
        .and_where(
            Expr::expr(Expr::SubQuery(None, Box::new(live_from_address.into())))
                .lt(i64::from(max_pending)),
        )
        .to_owned();
    let insert = Query::insert()
        .into_table(Entity)
        .columns([
            Column::Id,
            Column::ClientId,
            Column::Request,
            Column::CreatedAt,
            Column::ExpiresAt,
            Column::ClientIp,
        ])
        .select_from(values)
        .map_err(|err| StoreError::from(DbErr::Custom(err.to_string())))?
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

/// The stored request, unless it has expired.
pub async fn find_live(
    db: &impl ConnectionTrait,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<serde_json::Value>, StoreError> {
    let Some(row) = Entity::find_by_id(id.to_owned())
        .filter(Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_str(&row.request)?))
}

/// Removes a request once it has been answered.
pub async fn delete_request(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Removes requests that expired before `now`.
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
