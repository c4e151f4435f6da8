//! What readiness probes and the metrics need to know about the database: whether its
//! schema is the one this build expects, and how busy the connection pools are.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{Db, StoreError};

/// How the database's schema compares with this build's migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaState {
    /// Migrations this build has and the database has not applied.
    pub pending: Vec<String>,
    /// Migrations the database has applied that this build does not know (a newer
    /// careid migrated it).
    pub unknown: Vec<String>,
}

/// Compares the applied migrations (one read, on a reader) with this build's list. A
/// database that does not answer is an error.
pub async fn schema_state(db: &Db) -> Result<SchemaState, StoreError> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await?;
    let applied = rows
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<Vec<_>, _>>()?;
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok(SchemaState {
        pending: known
            .iter()
            .filter(|name| !applied.contains(name))
            .cloned()
            .collect(),
        unknown: applied
            .into_iter()
            .filter(|name| !known.contains(name))
            .collect(),
    })
}

/// Connections open and idle in one pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open.
    pub open: u32,
    /// Of those, waiting for work.
    pub idle: u32,
}

/// The readers' and the writer's pools (on PostgreSQL the same pool twice).
pub fn pool_use(db: &Db) -> (PoolUse, PoolUse) {
    (pool_of(db.reader()), pool_of(db.writer()))
}

fn pool_of(connection: &sea_orm::DatabaseConnection) -> PoolUse {
    // The accessors panic on the other backend, so the backend is asked first.
    let (open, idle) = match connection.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = connection.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Postgres => {
            let pool = connection.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    };
    PoolUse {
        open,
        idle: u32::try_from(idle).unwrap_or(u32::MAX),
    }
}
