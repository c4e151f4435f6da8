//! Connecting to the database and running migrations.

use std::{path::Path, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::StoreError;

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, shared by any number of careid instances.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if careid supports it.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Opens a pool on `url`. A SQLite file and its folder are created if missing.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, StoreError> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections.max(1))
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if Backend::of(url) == Some(Backend::Sqlite) {
        if let Some(dir) = sqlite_dir(url) {
            std::fs::create_dir_all(dir).map_err(|err| {
                StoreError::Corrupt(format!("cannot create {}: {err}", dir.display()))
            })?;
        }
        opts.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    let db = Database::connect(opts).await?;
    Ok(db)
}

/// Brings the schema up to date. Safe to run on every start and from several
/// instances at once: on PostgreSQL one migrates while the others wait on a lock.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    // One connection, so the session-level advisory lock and the migration share it.
    let db = connect(url, 1).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_lock(7365237)")
            .await?;
        let outcome = Migrator::up(&db, None).await;
        db.execute_unprepared("SELECT pg_advisory_unlock(7365237)")
            .await?;
        outcome?;
    } else {
        Migrator::up(&db, None).await?;
    }
    db.close().await?;
    Ok(())
}

/// The folder of a `sqlite:` URL's file, if it names one.
fn sqlite_dir(url: &str) -> Option<&Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_folder() {
        assert_eq!(
            sqlite_dir("sqlite://data/careid.db?mode=rwc"),
            Some(Path::new("data"))
        );
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(Backend::of("postgres://x/y"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://x"), None);
    }
}
