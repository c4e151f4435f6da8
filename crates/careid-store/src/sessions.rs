//! Browser sessions. The cookie holds a random secret; only its SHA-256 digest is stored.
//! `sid` is a separate public identifier, the one id_tokens and logout tokens carry.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::StoreError;

pub use entity::Model as Session;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub digest: String,
        #[sea_orm(unique)]
        pub sid: String,
        pub account_id: i64,
        pub profile_id: Option<i64>,
        pub auth_time: TimeDateTimeWithTimeZone,
        pub amr: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub last_seen_at: TimeDateTimeWithTimeZone,
        pub ended_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

impl Session {
    /// The authentication methods (RFC 8176 values), as stored.
    pub fn amr(&self) -> Vec<String> {
        serde_json::from_str(&self.amr).unwrap_or_default()
    }
}

/// A session just authenticated.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 digest of the cookie secret.
    pub digest: String,
    /// Public session id.
    pub sid: String,
    /// Who signed in.
    pub account_id: i64,
    /// Chosen profile, when the account has only one or the person picked.
    pub profile_id: Option<i64>,
    /// How (`pwd`, `otp`…).
    pub amr: Vec<String>,
}

/// Stores a new session; its `auth_time` is `now`.
pub async fn insert_session(
    db: &impl ConnectionTrait,
    new: NewSession,
    now: OffsetDateTime,
) -> Result<Session, StoreError> {
    Ok(ActiveModel {
        digest: Set(new.digest),
        sid: Set(new.sid),
        account_id: Set(new.account_id),
        profile_id: Set(new.profile_id),
        auth_time: Set(now),
        amr: Set(serde_json::to_string(&new.amr)?),
        created_at: Set(now),
        last_seen_at: Set(now),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The session whose cookie digest this is, unless it has ended. Idle and age limits
/// are the policy's to judge.
pub async fn find_open_by_digest(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<Session>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Digest.eq(digest))
        .filter(Column::EndedAt.is_null())
        .one(db)
        .await?)
}

/// The open session with this public id.
pub async fn find_open_by_sid(
    db: &impl ConnectionTrait,
    sid: &str,
) -> Result<Option<Session>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Sid.eq(sid))
        .filter(Column::EndedAt.is_null())
        .one(db)
        .await?)
}

/// Records activity on the session (the idle timeout restarts).
pub async fn update_seen(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::LastSeenAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the profile the person picked.
pub async fn update_profile(
    db: &impl ConnectionTrait,
    id: i64,
    profile_id: i64,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::ProfileId, Expr::value(profile_id))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends one session.
pub async fn end_session(
    db: &impl ConnectionTrait,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::EndedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every open session of an account, except `keep` (the one changing its password).
pub async fn end_for_account(
    db: &impl ConnectionTrait,
    account_id: i64,
    keep: Option<i64>,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut update = Entity::update_many()
        .col_expr(Column::EndedAt, Expr::value(now))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::EndedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(Column::Id.ne(keep));
    }
    Ok(update.exec(db).await?.rows_affected)
}

pub use client_entity::Model as SessionClient;

/// The clients that received tokens in a session (`session_clients`), so that ending
/// the session can tell each of them (OIDC Back-Channel Logout 1.0).
pub(crate) mod client_entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "session_clients")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub sid: String,
        pub client_id: String,
        pub subject: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records that `client_id` received tokens for `subject` in the session `sid`. Seeing
/// the same triple again changes nothing; the insert cannot fail on it, so it is safe
/// inside a PostgreSQL transaction.
pub async fn insert_client(
    db: &impl ConnectionTrait,
    sid: &str,
    client_id: &str,
    subject: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    use client_entity::{ActiveModel, Column, Entity};
    Entity::insert(ActiveModel {
        sid: Set(sid.to_owned()),
        client_id: Set(client_id.to_owned()),
        subject: Set(subject.to_owned()),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([Column::Sid, Column::ClientId, Column::Subject])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Every client (and the subject it knows) that received tokens in the session `sid`,
/// oldest first. Served by the unique index on (sid, client_id, subject).
pub async fn find_clients(
    db: &impl ConnectionTrait,
    sid: &str,
) -> Result<Vec<SessionClient>, StoreError> {
    use client_entity::{Column, Entity};
    use sea_orm::QueryOrder;
    Ok(Entity::find()
        .filter(Column::Sid.eq(sid))
        .order_by_asc(Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use time::macros::datetime;

    use super::*;

    #[tokio::test]
    async fn a_client_recorded_twice_in_a_session_is_listed_once() {
        // One connection, so the in-memory database lives as long as the test.
        let db = crate::connect("sqlite::memory:", 1).await.unwrap();
        Migrator::up(db.writer(), None).await.unwrap();
        let now = datetime!(2026-01-05 09:00 UTC);
        for (sid, client) in [("s1", "crm"), ("s1", "emr"), ("s1", "crm"), ("s2", "crm")] {
            insert_client(&db, sid, client, "sub-1", now).await.unwrap();
        }
        insert_client(&db, "s1", "crm", "sub-2", now).await.unwrap();
        let listed: Vec<(String, String)> = find_clients(&db, "s1")
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.client_id, row.subject))
            .collect();
        assert_eq!(
            listed,
            [("crm", "sub-1"), ("emr", "sub-1"), ("crm", "sub-2")]
                .map(|(c, s)| (c.to_owned(), s.to_owned()))
        );
        assert!(find_clients(&db, "s3").await.unwrap().is_empty());
    }
}
