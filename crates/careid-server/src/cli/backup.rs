//! `careid backup PATH` and `careid restore PATH`: an online, consistent copy of the
//! embedded SQLite database, and putting such a copy in place while careid is stopped.
//! PostgreSQL has its own tools (`pg_dump`, `pg_restore`); both commands say so.
//! docs/operations.md explains what else a backup needs: the key-encryption key.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use careid_store::{Backend, backup};

use crate::Config;

/// What to tell an operator whose database is PostgreSQL.
const USE_PG_TOOLS: &str = "the database is PostgreSQL: back it up with `pg_dump --format=custom` and restore it with `pg_restore` (docs/operations.md, \"Backups\"); careid backup and restore handle SQLite only";

/// The configured SQLite file, or why there is none.
fn sqlite_file(config: &Config) -> anyhow::Result<PathBuf> {
    match Backend::of(&config.database_url) {
        Some(Backend::Postgres) => bail!(USE_PG_TOOLS),
        Some(Backend::Sqlite) => {
            careid_store::sqlite_file(&config.database_url).with_context(|| {
                format!(
                    "{} is not a database file: nothing to back up or restore",
                    config.database_url
                )
            })
        }
        None => bail!(
            "unsupported database_url {}",
            crate::redact(&config.database_url)
        ),
    }
}

/// Writes a consistent copy of the configured database to `target`, which must not
/// exist. Safe while careid serves: the copy is one snapshot and writes go on.
pub async fn backup(config: &Config, target: &Path) -> anyhow::Result<()> {
    let source = sqlite_file(config)?;
    if target.exists() {
        bail!(
            "{} exists already: choose a new file name (a backup never writes over a file)",
            target.display()
        );
    }
    if let Some(dir) = target.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    backup::copy_sqlite(&config.database_url, target)
        .await
        .with_context(|| format!("backing up {} to {}", source.display(), target.display()))?;
    backup::check_sqlite_copy(target)
        .await
        .with_context(|| format!("checking the backup {}", target.display()))?;
    Ok(())
}

/// Puts the backup `source` in place as the configured database. Refuses to replace an
/// existing database unless `force` (which keeps it as `<file>.before-restore`), and
/// refuses while something listens on the configured address: careid must not be
/// serving the database that is replaced under it.
pub async fn restore(config: &Config, source: &Path, force: bool) -> anyhow::Result<PathBuf> {
    let target = sqlite_file(config)?;
    if !source.is_file() {
        bail!("no backup file at {}", source.display());
    }
    if target.exists() && !force {
        bail!(
            "{} exists already: stop careid, then run restore again with --force to replace it (the old file is kept as {})",
            target.display(),
            aside(&target).display()
        );
    }
    if is_serving(&config.listen).await {
        bail!(
            "something listens on {} (careid serve?): stop it first; a database must not be replaced while it is served",
            config.listen
        );
    }
    if let Some(dir) = target.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Copy next to the target first and check the copy, so that a bad backup or a full
    // disk leaves the current database untouched; then swap by renames.
    let incoming = with_suffix(&target, ".restoring");
    std::fs::copy(source, &incoming)
        .with_context(|| format!("copying {} to {}", source.display(), incoming.display()))?;
    if let Err(err) = backup::check_sqlite_copy(&incoming).await {
        let _ = std::fs::remove_file(&incoming);
        return Err(err).with_context(|| format!("{} is no usable backup", source.display()));
    }
    if target.exists() {
        std::fs::rename(&target, aside(&target))
            .with_context(|| format!("moving {} aside", target.display()))?;
    }
    // A write-ahead log left by the old database belongs to it, not to the restored
    // file: SQLite would replay it into the new one.
    for suffix in ["-wal", "-shm"] {
        let stale = with_suffix(&target, suffix);
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    std::fs::rename(&incoming, &target)
        .with_context(|| format!("moving {} into place", incoming.display()))?;
    Ok(target)
}

/// Where `--force` keeps the database it replaces.
fn aside(target: &Path) -> PathBuf {
    with_suffix(target, ".before-restore")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether something already listens on `listen`: then the address cannot be bound.
async fn is_serving(listen: &str) -> bool {
    matches!(
        tokio::net::TcpListener::bind(listen).await,
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_postgresql_database_is_pointed_to_pg_dump() {
        let config = Config {
            database_url: "postgres://careid:secret@db/careid".into(),
            ..Config::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let err = backup(&config, &dir.path().join("x.db")).await.unwrap_err();
        assert!(err.to_string().contains("pg_dump"), "{err}");
        let err = restore(&config, &dir.path().join("x.db"), true)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("pg_restore"), "{err}");
    }

    #[tokio::test]
    async fn a_restore_is_refused_while_the_address_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let busy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = Config {
            database_url: format!("sqlite://{}/careid.db?mode=rwc", dir.path().display()),
            listen: busy.local_addr().unwrap().to_string(),
            ..Config::default()
        };
        let source = dir.path().join("backup.db");
        careid_store::migrate(&format!("sqlite://{}?mode=rwc", source.display()))
            .await
            .unwrap();
        let err = restore(&config, &source, false).await.unwrap_err();
        assert!(err.to_string().contains("stop it first"), "{err}");
        assert!(!dir.path().join("careid.db").exists());
    }
}
