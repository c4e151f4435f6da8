//! The store's one error type.

use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, SqlErr};

/// What went wrong while reading or writing the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists already (an email, a key generation…).
    #[error("a record with this key exists already")]
    Duplicate,
    /// A stored JSON column no longer parses: a bug or a hand-edited database.
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The database is overloaded: no connection (on SQLite, the one writer) came free
    /// within the configured wait, or the database answered that it is locked. Callers
    /// answer 503 with `Retry-After`.
    #[error("the database is busy")]
    Busy,
    /// The database failed.
    #[error("database error: {0}")]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_busy(&err) {
            return Self::Busy;
        }
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Duplicate,
            _ if is_unique_violation(&err) => Self::Duplicate,
            _ => Self::Db(err),
        }
    }
}

/// Whether `err` is a database failure of the unique-violation kind: what sea-orm's
/// `sql_err` does not recognise in the inline SQLite connections' failures.
fn is_unique_violation(err: &DbErr) -> bool {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            matches!(sqlx.as_ref(), sea_orm::sqlx::Error::Database(db) if db.is_unique_violation())
        }
        _ => false,
    }
}

/// Whether `err` says "try again later" rather than "this went wrong": a pool wait ran
/// out, SQLite stayed locked past its busy timeout (SQLITE_BUSY and its extended codes),
/// or PostgreSQL broke a deadlock or a lock wait.
fn is_busy(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx))
        | DbErr::Conn(RuntimeErr::SqlxError(sqlx)) => match sqlx.as_ref() {
            sea_orm::sqlx::Error::PoolTimedOut => true,
            sea_orm::sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // SQLite: 5 is SQLITE_BUSY; 261, 517 and 773 are its extended forms.
                // PostgreSQL: 40P01 deadlock_detected, 55P03 lock_not_available.
                matches!(
                    code.as_ref(),
                    "5" | "261" | "517" | "773" | "40P01" | "55P03"
                )
            }),
            _ => false,
        },
        _ => false,
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(err.to_string())
    }
}
