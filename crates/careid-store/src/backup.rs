//! Backups of an embedded SQLite database: an online, consistent copy (`VACUUM INTO`),
//! and the checks a copy passes before `careid restore` puts it in place. PostgreSQL is
//! backed up with its own tools (`pg_dump`); the CLI says so. The file moves of a
//! restore are `careid-server`'s.

use std::path::Path;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use crate::{DEFAULT_WAIT, StoreError, sqlite_file};

/// Opens the existing SQLite file `file` as it is: never created, its journal mode left
/// alone (a backup file stays a single file), waiting for a lock as the server does.
async fn open_existing(file: &Path) -> Result<DatabaseConnection, StoreError> {
    let mut opts = ConnectOptions::new(format!("sqlite://{}", file.display()));
    opts.max_connections(1).sqlx_logging(false);
    opts.map_sqlx_sqlite_opts(|o| o.create_if_missing(false).busy_timeout(DEFAULT_WAIT));
    Ok(Database::connect(opts).await?)
}

/// A problem with a database file, in the words the operator reads.
fn unusable(why: String) -> StoreError {
    StoreError::Corrupt(why)
}

/// Writes a consistent copy of the SQLite database at `url` to the new file `target`.
/// `VACUUM INTO` reads one snapshot (in WAL mode it neither waits for nor blocks a
/// running server's writes) and writes a compact, self-contained file: no `-wal` file
/// belongs to it. SQLite refuses a `target` that exists.
pub async fn copy_sqlite(url: &str, target: &Path) -> Result<(), StoreError> {
    let Some(file) = sqlite_file(url) else {
        return Err(unusable(format!("{url} is not a SQLite database file")));
    };
    if !file.is_file() {
        return Err(unusable(format!("no database at {}", file.display())));
    }
    let db = open_existing(&file).await?;
    let copied = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            [target.display().to_string().into()],
        ))
        .await;
    db.close().await?;
    copied?;
    Ok(())
}

/// Checks that `file` is a sound careid SQLite database (`PRAGMA quick_check`, and a
/// migration table with at least one migration) and returns how many migrations it has
/// applied.
pub async fn check_sqlite_copy(file: &Path) -> Result<u64, StoreError> {
    let db = open_existing(file).await?;
    let checked = async {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA quick_check",
            ))
            .await?;
        let verdict: String = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => String::new(),
        };
        if verdict != "ok" {
            return Err(unusable(format!("the database is damaged: {verdict}")));
        }
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) FROM seaql_migrations",
            ))
            .await
            .map_err(|_| unusable("not a careid database (no migrations table)".into()))?;
        let count: i64 = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        if count == 0 {
            return Err(unusable("not a careid database (no migrations)".into()));
        }
        Ok(u64::try_from(count).unwrap_or_default())
    }
    .await;
    db.close().await?;
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_is_a_checked_careid_database_and_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/careid.db?mode=rwc", dir.path().display());
        crate::migrate(&url).await.unwrap();
        let target = dir.path().join("copy.db");
        copy_sqlite(&url, &target).await.unwrap();
        assert!(check_sqlite_copy(&target).await.unwrap() > 0);
        assert!(copy_sqlite(&url, &target).await.is_err());
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
        assert!(check_sqlite_copy(&junk).await.is_err());
    }
}
