//! Bulk creation of active accounts for load tests (`careid seed`). Each account gets
//! the same rows as one made by `careid user add` (see [`crate::accounts::insert_account`]):
//! the account, its self profile, its first password-history entry and an
//! `account_created` audit event, but written as multi-row `INSERT`s so a million
//! accounts take minutes, not hours. Hashing the password and choosing emails and
//! subjects are the caller's.

use std::collections::HashMap;

use sea_orm::{ActiveValue::Set, EntityTrait, TryInsertResult, entity::prelude::*};
use time::OffsetDateTime;

use crate::{
    StoreError,
    accounts::{self, Status},
    audit, password_history, profiles,
};

/// Rows per `INSERT`. The widest table here binds 12 values a row, so 1,000 rows stay
/// under SQLite's limit on bound parameters (32,766 since SQLite 3.32) and PostgreSQL's
/// (65,535), and one statement still carries enough rows to amortise its round trip.
pub const ROWS_PER_STATEMENT: usize = 1000;

/// One account to create.
#[derive(Debug, Clone)]
pub struct SeedAccount {
    /// Normalised email (see [`accounts::normalise_email`]).
    pub email: String,
    /// Display name of the self profile.
    pub name: String,
    /// The OIDC subject of the self profile: random, as for any account.
    pub subject: String,
}

/// Creates `batch` as active accounts that all have the password `password_hash` (a PHC
/// string), [`ROWS_PER_STATEMENT`] at a time. An email that exists already is skipped
/// (`ON CONFLICT DO NOTHING`), so a second run with the same emails creates nothing.
/// Returns how many accounts were created.
///
/// Run it in a transaction: a failure half-way otherwise leaves accounts without
/// profiles.
pub async fn insert_active_accounts(
    db: &impl ConnectionTrait,
    batch: &[SeedAccount],
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut created = 0;
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        created += insert_chunk(db, chunk, password_hash, now).await?;
    }
    Ok(created)
}

async fn insert_chunk(
    db: &impl ConnectionTrait,
    chunk: &[SeedAccount],
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let rows = chunk.iter().map(|seed| accounts::entity::ActiveModel {
        email: Set(seed.email.clone()),
        password_hash: Set(Some(password_hash.to_owned())),
        status: Set(Status::Active.as_str().to_owned()),
        invitation_state: Set("none".to_owned()),
        activity_at: Set(now),
        failed_attempts: Set(0),
        lockouts: Set(0),
        locked_until: Set(None),
        disabled_at: Set(None),
        expired_at: Set(None),
        require_mfa: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    // RETURNING gives back only the rows this statement inserted, in no promised order,
    // so each is matched to its seed by email.
    let inserted = match accounts::entity::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([accounts::entity::Column::Email])
        .exec_with_returning_many(db)
        .await?
    {
        TryInsertResult::Inserted(accounts) => accounts,
        TryInsertResult::Empty | TryInsertResult::Conflicted => return Ok(0),
    };
    if inserted.is_empty() {
        return Ok(0);
    }
    let by_email: HashMap<&str, &SeedAccount> = chunk
        .iter()
        .map(|seed| (seed.email.as_str(), seed))
        .collect();
    let mut profile_rows = Vec::with_capacity(inserted.len());
    for account in &inserted {
        let Some(seed) = by_email.get(account.email.as_str()) else {
            return Err(StoreError::Corrupt(format!(
                "the database returned {} for a seed batch without it",
                account.email
            )));
        };
        let (given_name, family_name) = profiles::split_name(&seed.name);
        profile_rows.push(profiles::entity::ActiveModel {
            account_id: Set(account.id),
            subject: Set(seed.subject.clone()),
            kind: Set("self".to_owned()),
            position: Set(0),
            name: Set(seed.name.clone()),
            given_name: Set(given_name),
            family_name: Set(family_name),
            email: Set(Some(seed.email.clone())),
            email_verified: Set(false),
            created_at: Set(now),
            ..Default::default()
        });
    }
    profiles::entity::Entity::insert_many(profile_rows)
        .exec_without_returning(db)
        .await?;
    password_history::entity::Entity::insert_many(inserted.iter().map(|account| {
        password_history::entity::ActiveModel {
            account_id: Set(account.id),
            password_hash: Set(password_hash.to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
    }))
    .exec_without_returning(db)
    .await?;
    audit::entity::Entity::insert_many(inserted.iter().map(|account| audit::entity::ActiveModel {
        at: Set(now),
        kind: Set("account_created".to_owned()),
        account_id: Set(Some(account.id)),
        client_id: Set(None),
        ip: Set(None),
        detail: Set("{}".to_owned()),
        ..Default::default()
    }))
    .exec_without_returning(db)
    .await?;
    Ok(inserted.len() as u64)
}

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectOptions, Database, DatabaseConnection, PaginatorTrait};
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);
    const PHC: &str = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";

    async fn database() -> DatabaseConnection {
        // One connection, so the in-memory database lives as long as the test.
        let mut opts = ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).sqlx_logging(false);
        let db = Database::connect(opts).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        db
    }

    fn seeds(range: std::ops::Range<usize>) -> Vec<SeedAccount> {
        range
            .map(|n| SeedAccount {
                email: format!("bench-{n}@careid.local"),
                name: format!("Bench User {n}"),
                subject: format!("subject-{n}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_seeded_account_has_the_rows_of_one_made_by_hand() {
        let db = database().await;
        let created = insert_active_accounts(&db, &seeds(1..3), PHC, NOW)
            .await
            .unwrap();
        assert_eq!(created, 2);
        let account = accounts::find_by_email(&db, "bench-2@careid.local")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.status(), Status::Active);
        assert_eq!(account.invitation_state, "none");
        assert_eq!(account.password_hash.as_deref(), Some(PHC));
        assert_eq!(account.activity_at, NOW);
        let profiles = profiles::find_for_account(&db, account.id).await.unwrap();
        assert_eq!(profiles.len(), 1);
        assert_eq!(profiles[0].subject, "subject-2");
        assert_eq!(profiles[0].kind, "self");
        assert_eq!(profiles[0].given_name.as_deref(), Some("Bench User"));
        assert_eq!(profiles[0].family_name.as_deref(), Some("2"));
        assert_eq!(profiles[0].email.as_deref(), Some("bench-2@careid.local"));
        assert_eq!(
            password_history::find_recent(&db, account.id, 5)
                .await
                .unwrap(),
            [PHC]
        );
        let events = audit::find_events(&db, Some(account.id), None, 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "account_created");
    }

    #[tokio::test]
    async fn seeding_the_same_emails_again_creates_only_the_new_ones() {
        let db = database().await;
        insert_active_accounts(&db, &seeds(0..5), PHC, NOW)
            .await
            .unwrap();
        let mut again = seeds(3..8);
        for seed in &mut again {
            seed.subject.push_str("-again");
        }
        let created = insert_active_accounts(&db, &again, PHC, NOW).await.unwrap();
        assert_eq!(created, 3);
        assert_eq!(
            accounts::entity::Entity::find().count(&db).await.unwrap(),
            8
        );
        assert_eq!(
            profiles::entity::Entity::find().count(&db).await.unwrap(),
            8
        );
        assert_eq!(
            password_history::entity::Entity::find()
                .count(&db)
                .await
                .unwrap(),
            8
        );
        let kept = accounts::find_by_email(&db, "bench-4@careid.local")
            .await
            .unwrap()
            .unwrap();
        let profiles = profiles::find_for_account(&db, kept.id).await.unwrap();
        assert_eq!(profiles[0].subject, "subject-4");
    }

    #[tokio::test]
    async fn a_batch_larger_than_one_statement_is_split_and_fully_created() {
        let db = database().await;
        let created = insert_active_accounts(&db, &seeds(0..ROWS_PER_STATEMENT + 1), PHC, NOW)
            .await
            .unwrap();
        assert_eq!(created, ROWS_PER_STATEMENT as u64 + 1);
        assert_eq!(
            profiles::entity::Entity::find().count(&db).await.unwrap(),
            ROWS_PER_STATEMENT as u64 + 1
        );
    }

    #[tokio::test]
    async fn an_empty_batch_creates_nothing() {
        let db = database().await;
        assert_eq!(insert_active_accounts(&db, &[], PHC, NOW).await.unwrap(), 0);
    }
}
