//! The outbox of back-channel logouts (OIDC Back-Channel Logout 1.0): one row per client
//! and subject of an ended session, inserted in the transaction that ends it
//! ([`crate::sessions::end_sessions`]). Signing and sending are `careid-protocol`'s; this
//! module only claims rows and records outcomes, each as one conditional statement, so
//! two instances never send the same row at once.

use sea_orm::{
    ActiveValue::Set, ExprTrait, QueryFilter, QueryOrder, QuerySelect, entity::prelude::*,
    sea_query::Expr,
};
use time::OffsetDateTime;

use crate::StoreError;

pub use entity::Model as LogoutDelivery;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::ClientId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "logout_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub sid: String,
        pub client_id: ClientId,
        pub subject: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub due_at: TimeDateTimeWithTimeZone,
        pub attempts: i32,
        pub delivered_at: Option<TimeDateTimeWithTimeZone>,
        pub gave_up_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Queues one delivery, due at once, for every client (and subject) that received tokens
/// in the session `sid`. Returns how many were queued.
pub async fn insert_for_session(
    db: &impl ConnectionTrait,
    sid: &str,
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    let participants = crate::sessions::find_clients(db, sid).await?;
    let count = participants.len();
    if count == 0 {
        return Ok(0);
    }
    let rows = participants.into_iter().map(|p| ActiveModel {
        sid: Set(p.sid),
        client_id: Set(p.client_id),
        subject: Set(p.subject),
        created_at: Set(now),
        due_at: Set(now),
        attempts: Set(0),
        delivered_at: Set(None),
        gave_up_at: Set(None),
        ..Default::default()
    });
    Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(count)
}

/// Up to `limit` deliveries still pending and due at `now`, oldest first. A candidate
/// list only: [`take_due`] decides who sends each.
pub async fn find_due(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
    limit: u64,
) -> Result<Vec<LogoutDelivery>, StoreError> {
    Ok(Entity::find()
        .filter(Column::DueAt.lte(now))
        .filter(Column::DeliveredAt.is_null())
        .filter(Column::GaveUpAt.is_null())
        .order_by_asc(Column::DueAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Claims a due delivery for one attempt: one conditional UPDATE counts the attempt and
/// moves `due_at` to `lease_until`, so no other instance finds it due until then (and
/// one that crashed mid-send is retried after it). `None` when another instance claimed
/// it first or it is no longer pending.
pub async fn take_due(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<Option<LogoutDelivery>, StoreError> {
    let claimed = Entity::update_many()
        .col_expr(Column::DueAt, Expr::value(lease_until))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id))
        .filter(Column::DueAt.lte(now))
        .filter(Column::DeliveredAt.is_null())
        .filter(Column::GaveUpAt.is_null())
        .exec_with_returning(db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// Records a delivery the client accepted; it is never sent again.
pub async fn update_delivered(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::DeliveredAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Schedules the next attempt of a failed delivery.
pub async fn update_retry(
    db: &impl ConnectionTrait,
    id: i64,
    due_at: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::DueAt, Expr::value(due_at))
        .filter(Column::Id.eq(id))
        .filter(Column::DeliveredAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Records that a delivery will not be attempted again (its time is up, or the client
/// has no back-channel URI any more).
pub async fn update_gave_up(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::GaveUpAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::DeliveredAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Every delivery queued for the session `sid`, oldest first (tests and the admin).
pub async fn find_for_session(
    db: &impl ConnectionTrait,
    sid: &str,
) -> Result<Vec<LogoutDelivery>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Sid.eq(sid))
        .order_by_asc(Column::Id)
        .all(db)
        .await?)
}
