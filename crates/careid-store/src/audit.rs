//! The audit trail: who did what, when, from where. Never a secret.

use sea_orm::{
    ActiveValue::Set, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, entity::prelude::*,
};
use time::OffsetDateTime;

use crate::{AccountId, ClientId, StoreError};

pub use entity::Model as AuditEvent;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{AccountId, ClientId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: TimeDateTimeWithTimeZone,
        pub kind: String,
        pub account_id: Option<AccountId>,
        pub client_id: Option<ClientId>,
        pub ip: Option<String>,
        pub detail: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// An event to record.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    /// What happened: `sign_in`, `sign_in_failed`, `lockout`, `password_changed`…
    pub kind: &'static str,
    /// The account concerned.
    pub account_id: Option<AccountId>,
    /// The client involved.
    pub client_id: Option<ClientId>,
    /// The client address.
    pub ip: Option<String>,
    /// Anything else worth knowing, as JSON (never a secret).
    pub detail: serde_json::Value,
}

/// Records an event.
pub async fn insert_event(
    db: &impl ConnectionTrait,
    event: NewEvent,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let detail = if event.detail.is_null() {
        "{}".to_owned()
    } else {
        event.detail.to_string()
    };
    ActiveModel {
        at: Set(now),
        kind: Set(event.kind.to_owned()),
        account_id: Set(event.account_id),
        client_id: Set(event.client_id),
        ip: Set(event.ip),
        detail: Set(detail),
        ..Default::default()
    }
    .insert(db)
    .await?;
    metrics::counter!("careid_audit_events_total", "kind" => event.kind).increment(1);
    Ok(())
}

/// How many `kind` events came from `ip` after `since` (the per-address sign-in
/// limit). Served by the index on (ip, kind, at).
pub async fn count_from_ip(
    db: &impl ConnectionTrait,
    kind: &str,
    ip: &str,
    since: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::find()
        .filter(Column::Ip.eq(ip))
        .filter(Column::Kind.eq(kind))
        .filter(Column::At.gt(since))
        .count(db)
        .await?)
}

/// How many `kind` events of one account came after `since` (per-account limits).
/// Served by the index on `account_id`.
pub async fn count_for_account(
    db: &impl ConnectionTrait,
    kind: &str,
    account_id: AccountId,
    since: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(kind))
        .filter(Column::At.gt(since))
        .count(db)
        .await?)
}

/// Events, newest first, optionally for one account and since an instant.
pub async fn find_events(
    db: &impl ConnectionTrait,
    account_id: Option<AccountId>,
    since: Option<OffsetDateTime>,
    limit: u64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut query = Entity::find();
    if let Some(account_id) = account_id {
        query = query.filter(Column::AccountId.eq(account_id));
    }
    if let Some(since) = since {
        query = query.filter(Column::At.gte(since));
    }
    Ok(query.order_by_desc(Column::Id).limit(limit).all(db).await?)
}

/// Deletes at most `batch` events older than `before` and says how many went. One
/// bounded statement: a large backlog is pruned in many short writes, so sign-ins never
/// wait long behind it. Served by the index on `at`.
pub async fn delete_older_than(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
    batch: u64,
) -> Result<u64, StoreError> {
    let oldest = sea_orm::sea_query::Query::select()
        .column(Column::Id)
        .from(Entity)
        .and_where(Column::At.lt(before))
        .limit(batch)
        .to_owned();
    let deleted = Entity::delete_many()
        .filter(Column::Id.in_subquery(oldest))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// One page of an export: events at or after `since` and before `until` (if given),
/// with an id above `after_id`, oldest first. The next page starts after the last id.
pub async fn find_page(
    db: &impl ConnectionTrait,
    since: OffsetDateTime,
    until: Option<OffsetDateTime>,
    after_id: i64,
    limit: u64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut query = Entity::find()
        .filter(Column::At.gte(since))
        .filter(Column::Id.gt(after_id));
    if let Some(until) = until {
        query = query.filter(Column::At.lt(until));
    }
    Ok(query.order_by_asc(Column::Id).limit(limit).all(db).await?)
}

/// Up to `limit` events of one account with an id below `before`, newest first: keyset
/// pagination that events recorded meanwhile cannot shift. Served by the index on
/// `account_id`.
pub async fn find_for_account_before(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut query = Entity::find().filter(Column::AccountId.eq(account_id));
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    Ok(query.order_by_desc(Column::Id).limit(limit).all(db).await?)
}

/// The account's newest event of `kind` (such as its last `sign_in`).
pub async fn find_latest_of_kind(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    kind: &str,
) -> Result<Option<AuditEvent>, StoreError> {
    Ok(latest_of_kind(account_id, kind).one(db).await?)
}

/// Read through `ix_audit_events_account_kind_id`: an account has an event for every
/// sign-in.
fn latest_of_kind(account_id: AccountId, kind: &str) -> Select<Entity> {
    Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(kind))
        .order_by_desc(Column::Id)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement};

    use super::*;

    #[tokio::test]
    async fn the_latest_event_of_a_kind_is_found_through_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/careid.db?mode=rwc", dir.path().display());
        crate::migrate(&url).await.unwrap();
        let db = crate::connect(&url, 1).await.unwrap();
        let query = latest_of_kind(AccountId::new(1), "sign_in").build(DbBackend::Sqlite);
        let plan = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", query.sql),
            query.values.map(|values| values.0).unwrap_or_default(),
        );
        let rows = db.query_all_raw(plan).await.unwrap();
        let steps: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        assert!(
            steps
                .iter()
                .any(|step| step.contains("USING INDEX ix_audit_events_account_kind_id")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|step| step.contains("TEMP B-TREE")),
            "the index gives the order too: {steps:?}"
        );
    }
}
