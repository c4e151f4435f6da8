//! Browser sessions. The cookie holds a random secret; only its SHA-256 digest is stored.
//! `sid` is a separate public identifier, the one id_tokens and logout tokens carry.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::Tx;

use crate::{AccountId, ClientId, Db, ProfileId, StoreError};

pub use entity::Model as Session;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{AccountId, ProfileId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub digest: String,
        #[sea_orm(unique)]
        pub sid: String,
        pub account_id: AccountId,
        pub profile_id: Option<ProfileId>,
        pub auth_time: TimeDateTimeWithTimeZone,
        pub amr: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub last_seen_at: TimeDateTimeWithTimeZone,
        pub ended_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "crate::accounts::entity::Entity",
            from = "Column::AccountId",
            to = "crate::accounts::entity::Column::Id"
        )]
        Account,
    }

    impl Related<crate::accounts::entity::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Account.def()
        }
    }

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
    pub account_id: AccountId,
    /// Chosen profile, when the account has only one or the person picked.
    pub profile_id: Option<ProfileId>,
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

/// [`find_open_by_digest`] with the session's account, in one statement: every
/// request that carries the cookie needs both (the account's standing decides whether
/// the session still counts). `None` also when the account is gone.
pub async fn find_open_by_digest_with_account(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<(Session, crate::accounts::Account)>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Digest.eq(digest))
        .filter(Column::EndedAt.is_null())
        .find_also_related(crate::accounts::entity::Entity)
        .one(db)
        .await?
        .and_then(|(session, account)| Some((session, account?))))
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

/// The session with this id, ended or not.
pub async fn find_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<Session>, StoreError> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// The account's sessions that have not ended, oldest first (index on `account_id`).
pub async fn find_open_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Vec<Session>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::EndedAt.is_null())
        .order_by_asc(Column::Id)
        .all(db)
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

/// Raises the open session `id` after a second factor (step-up): a new cookie digest in
/// place of `old_digest` and the new `amr`; its `sid`, `auth_time`, profile and the
/// clients it signed in to stay. One conditional statement: `false` when the session
/// ended or its cookie was replaced meanwhile.
pub async fn update_stepped_up(
    db: &impl ConnectionTrait,
    id: i64,
    old_digest: &str,
    new_digest: &str,
    amr: &[String],
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::Digest, Expr::value(new_digest))
        .col_expr(Column::Amr, Expr::value(serde_json::to_string(amr)?))
        .filter(Column::Id.eq(id))
        .filter(Column::Digest.eq(old_digest))
        .filter(Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Sets the profile the person picked on the open session `id` of `account_id`, in one
/// conditional statement: only when the profile belongs to that same account. `false`
/// when it does not (the id comes from a browser) or the session is not open.
pub async fn update_profile(
    db: &impl ConnectionTrait,
    id: i64,
    account_id: AccountId,
    profile_id: ProfileId,
) -> Result<bool, StoreError> {
    use sea_orm::{QuerySelect, QueryTrait};

    use crate::profiles::entity as profiles;

    let owner = profiles::Entity::find()
        .select_only()
        .column(profiles::Column::AccountId)
        .filter(profiles::Column::Id.eq(profile_id))
        .into_query();
    let updated = Entity::update_many()
        .col_expr(Column::ProfileId, Expr::value(profile_id))
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::EndedAt.is_null())
        .filter(Column::AccountId.in_subquery(owner))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Sends the open sessions acting as `profile_id` back to choosing (the profile was
/// removed): their next authorization request shows the picker. Served by
/// `ix_sessions_profile`.
pub async fn update_profile_unset(
    db: &impl ConnectionTrait,
    profile_id: ProfileId,
) -> Result<u64, StoreError> {
    Ok(Entity::update_many()
        .col_expr(Column::ProfileId, Expr::value(Option::<i64>::None))
        .filter(Column::ProfileId.eq(profile_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// Which sessions an ending ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// One session: sign-out, `/end_session`, an idle or absolute timeout found, a new
    /// sign-in replacing it.
    Session(i64),
    /// Every session of an account except `keep` (the one changing its password), and
    /// the account's offline refresh tokens with them: a password change or reset, a
    /// disable, an inactivity expiry, a deletion.
    Account {
        /// The account.
        account_id: AccountId,
        /// A session that stays.
        keep: Option<i64>,
    },
}

/// The one way a session ends (DESIGN.md, "Session"). Inside the caller's transaction:
/// marks the sessions ended, revokes the refresh tokens bound to them, and queues one
/// back-channel logout delivery per client and subject that received tokens in each
/// (`logout_deliveries`). For an account-wide ending the account's offline refresh
/// tokens are revoked too. Returns the sessions it ended; one already ended is left
/// alone, so two endings racing queue each delivery once.
///
/// It takes a transaction, not any connection, so that the three writes cannot be
/// separated; [`end_one`] begins one for a single session.
pub async fn end_sessions(
    txn: &Tx,
    which: Ending,
    now: OffsetDateTime,
) -> Result<Vec<Session>, StoreError> {
    let mut update = Entity::update_many()
        .col_expr(Column::EndedAt, Expr::value(now))
        .filter(Column::EndedAt.is_null());
    update = match which {
        Ending::Session(id) => update.filter(Column::Id.eq(id)),
        Ending::Account { account_id, keep } => {
            let update = update.filter(Column::AccountId.eq(account_id));
            match keep {
                Some(keep) => update.filter(Column::Id.ne(keep)),
                None => update,
            }
        }
    };
    let ended = update.exec_with_returning(txn).await?;
    let sids: Vec<String> = ended.iter().map(|s| s.sid.clone()).collect();
    crate::refresh_tokens::revoke_for_sessions(txn, &sids, now).await?;
    if let Ending::Account { account_id, .. } = which {
        crate::refresh_tokens::revoke_offline_for_account(txn, account_id, now).await?;
    }
    for sid in &sids {
        crate::logout_deliveries::insert_for_session(txn, sid, now).await?;
    }
    Ok(ended)
}

/// Ends one session in a transaction of its own (see [`end_sessions`]). `false` when it
/// had already ended.
pub async fn end_one(db: &Db, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    let ended = end_sessions(&txn, Ending::Session(id), now).await?;
    txn.commit().await?;
    Ok(!ended.is_empty())
}

pub use client_entity::Model as SessionClient;

/// The clients that received tokens in a session (`session_clients`), so that ending
/// the session can tell each of them (OIDC Back-Channel Logout 1.0).
pub(crate) mod client_entity {
    use sea_orm::entity::prelude::*;

    use crate::ClientId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "session_clients")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub sid: String,
        pub client_id: ClientId,
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
    client_id: &ClientId,
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
            insert_client(&db, sid, &ClientId::from(client), "sub-1", now)
                .await
                .unwrap();
        }
        insert_client(&db, "s1", &ClientId::from("crm"), "sub-2", now)
            .await
            .unwrap();
        let listed: Vec<(String, String)> = find_clients(&db, "s1")
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.client_id.into_string(), row.subject))
            .collect();
        assert_eq!(
            listed,
            [("crm", "sub-1"), ("emr", "sub-1"), ("crm", "sub-2")]
                .map(|(c, s)| (c.to_owned(), s.to_owned()))
        );
        assert!(find_clients(&db, "s3").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_open_session_comes_with_its_own_account_and_an_ended_one_not_at_all() {
        let db = fresh().await;
        let now = datetime!(2026-01-05 09:00 UTC);
        session(&db, "s1", AccountId::new(1), now).await;
        let theirs = session(&db, "s2", AccountId::new(2), now).await;
        let (found, account) = find_open_by_digest_with_account(&db, "digest-s2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.sid.as_str(), account.id), ("s2", AccountId::new(2)));
        assert_eq!(account.email, "bo@clinic.example");
        end_one(&db, theirs.id, now).await.unwrap();
        let ended = find_open_by_digest_with_account(&db, "digest-s2").await;
        assert!(ended.unwrap().is_none());
    }

    /// A database with accounts 1 and 2.
    async fn fresh() -> Db {
        let db = crate::connect("sqlite::memory:", 1).await.unwrap();
        Migrator::up(db.writer(), None).await.unwrap();
        for who in ["ada", "bo"] {
            let new = crate::accounts::NewAccount {
                email: format!("{who}@clinic.example"),
                password_hash: None,
                status: crate::accounts::Status::Active,
                invitation_state: "none",
                name: who.into(),
                subject: format!("sub-{who}"),
            };
            crate::accounts::insert_account(&db, new, datetime!(2026-01-01 09:00 UTC))
                .await
                .unwrap();
        }
        db
    }

    async fn session(db: &Db, sid: &str, account_id: AccountId, now: OffsetDateTime) -> Session {
        let new = NewSession {
            digest: format!("digest-{sid}"),
            sid: sid.into(),
            account_id,
            profile_id: None,
            amr: vec!["pwd".into()],
        };
        insert_session(db, new, now).await.unwrap()
    }

    async fn refresh(
        db: &Db,
        digest: &str,
        account_id: AccountId,
        sid: Option<&str>,
        now: OffsetDateTime,
    ) {
        let new = crate::refresh_tokens::NewRefreshToken {
            digest: digest.into(),
            family_id: digest.into(),
            client_id: "crm".into(),
            account_id,
            grant: serde_json::json!({}),
            expires_at: now + time::Duration::days(30),
            sid: sid.map(str::to_owned),
        };
        crate::refresh_tokens::insert_token(db, new, now)
            .await
            .unwrap();
    }

    async fn is_revoked(db: &Db, digest: &str) -> bool {
        crate::refresh_tokens::find_by_digest(db, digest)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    }

    #[tokio::test]
    async fn ending_a_session_revokes_its_bound_tokens_and_queues_one_delivery_per_client() {
        let db = fresh().await;
        let now = datetime!(2026-01-05 09:00 UTC);
        let one = session(&db, "s1", AccountId::new(1), now).await;
        session(&db, "s2", AccountId::new(1), now).await;
        for client in ["crm", "emr"] {
            insert_client(&db, "s1", &ClientId::from(client), "sub-1", now)
                .await
                .unwrap();
        }
        refresh(&db, "bound-1", AccountId::new(1), Some("s1"), now).await;
        refresh(&db, "bound-2", AccountId::new(1), Some("s2"), now).await;
        refresh(&db, "offline", AccountId::new(1), None, now).await;

        assert!(end_one(&db, one.id, now).await.unwrap());
        assert!(!end_one(&db, one.id, now).await.unwrap(), "already ended");

        assert!(is_revoked(&db, "bound-1").await);
        assert!(!is_revoked(&db, "bound-2").await, "another session's token");
        assert!(
            !is_revoked(&db, "offline").await,
            "offline outlives a sign-out"
        );
        let queued = crate::logout_deliveries::find_for_session(&db, "s1")
            .await
            .unwrap();
        let clients: Vec<&str> = queued.iter().map(|d| d.client_id.as_str()).collect();
        assert_eq!(clients, ["crm", "emr"], "once each, though ended twice");
        assert!(find_open_by_sid(&db, "s1").await.unwrap().is_none());
        assert!(find_open_by_sid(&db, "s2").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn an_account_wide_ending_keeps_the_named_session_and_ends_offline_tokens() {
        let db = fresh().await;
        let now = datetime!(2026-01-05 09:00 UTC);
        let kept = session(&db, "kept", AccountId::new(1), now).await;
        session(&db, "other", AccountId::new(1), now).await;
        session(&db, "elsewhere", AccountId::new(2), now).await;
        insert_client(&db, "other", &ClientId::from("crm"), "sub-1", now)
            .await
            .unwrap();
        refresh(&db, "kept-bound", AccountId::new(1), Some("kept"), now).await;
        refresh(&db, "offline", AccountId::new(1), None, now).await;
        refresh(&db, "bo-offline", AccountId::new(2), None, now).await;

        let txn = db.begin().await.unwrap();
        let which = Ending::Account {
            account_id: AccountId::new(1),
            keep: Some(kept.id),
        };
        let ended = end_sessions(&txn, which, now).await.unwrap();
        txn.commit().await.unwrap();

        assert_eq!(
            ended.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(),
            ["other"]
        );
        assert!(!is_revoked(&db, "kept-bound").await);
        assert!(is_revoked(&db, "offline").await);
        assert!(
            !is_revoked(&db, "bo-offline").await,
            "another account's token"
        );
        assert_eq!(
            crate::logout_deliveries::find_for_session(&db, "other")
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_due_delivery_is_claimed_by_one_taker_only_until_its_lease_ends() {
        use crate::logout_deliveries::{find_due, take_due, update_delivered};
        let db = fresh().await;
        let now = datetime!(2026-01-05 09:00 UTC);
        let one = session(&db, "s1", AccountId::new(1), now).await;
        insert_client(&db, "s1", &ClientId::from("crm"), "sub-1", now)
            .await
            .unwrap();
        end_one(&db, one.id, now).await.unwrap();
        let due = find_due(&db, now, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let lease = now + time::Duration::minutes(1);
        let first = take_due(&db, due[0].id, now, lease).await.unwrap().unwrap();
        assert_eq!(first.attempts, 1);
        assert!(
            take_due(&db, due[0].id, now, lease)
                .await
                .unwrap()
                .is_none()
        );
        assert!(find_due(&db, now, 10).await.unwrap().is_empty());
        // A taker that never reported back: the row is due again once the lease ends.
        assert_eq!(find_due(&db, lease, 10).await.unwrap().len(), 1);
        update_delivered(&db, first.id, now).await.unwrap();
        assert!(find_due(&db, lease, 10).await.unwrap().is_empty());
        assert!(
            take_due(&db, first.id, lease, lease)
                .await
                .unwrap()
                .is_none()
        );
    }
}
