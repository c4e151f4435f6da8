//! The store's one error type.

use sea_orm::{DbErr, SqlErr};

/// What went wrong while reading or writing the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists already (an email, a key generation…).
    #[error("a record with this key exists already")]
    Duplicate,
    /// A stored JSON column no longer parses: a bug or a hand-edited database.
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Duplicate,
            _ => Self::Db(err),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(err.to_string())
    }
}
