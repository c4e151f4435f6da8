//! rusqlite's errors in the shape sea-orm gives sqlx's.
//!
//! The inline reader and writer run statements through rusqlite, but the rest of the
//! store (and [`crate::StoreError`]) knows database failures as sqlx reports them: a
//! `sqlx::Error::Database` with SQLite's extended result code and an error kind. A
//! failure is carried the same way here, so a locked file still becomes
//! [`crate::StoreError::Busy`] and a unique key [`crate::StoreError::Duplicate`].

use std::{borrow::Cow, sync::Arc};

use sea_orm::{
    RuntimeErr,
    sqlx::{self, error::ErrorKind},
};

/// A statement SQLite refused, with its extended result code.
#[derive(Debug)]
struct SqliteFailure {
    code: Option<i32>,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl sqlx::error::DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|code| Cow::Owned(code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // The extended codes sqlx's own SQLite error maps the same way.
        match self.code {
            Some(2067 | 1555) => ErrorKind::UniqueViolation,
            Some(787) => ErrorKind::ForeignKeyViolation,
            Some(1299) => ErrorKind::NotNullViolation,
            Some(275) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// `err` as sea-orm's runtime error of a sqlx database failure.
pub(crate) fn runtime(err: rusqlite::Error) -> RuntimeErr {
    let code = match &err {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
        _ => None,
    };
    let failure = SqliteFailure {
        code,
        message: format!("sqlite: {err}"),
    };
    RuntimeErr::SqlxError(Arc::new(sqlx::Error::Database(Box::new(failure))))
}

#[cfg(test)]
mod tests {
    use sea_orm::DbErr;

    use super::*;
    use crate::StoreError;

    fn failure(code: rusqlite::ffi::ErrorCode, extended: i32) -> DbErr {
        let err = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code,
                extended_code: extended,
            },
            None,
        );
        DbErr::Exec(runtime(err))
    }

    #[test]
    fn a_locked_file_is_busy_and_a_unique_key_a_duplicate() {
        use rusqlite::ffi::ErrorCode;
        assert!(matches!(
            StoreError::from(failure(ErrorCode::DatabaseBusy, 5)),
            StoreError::Busy
        ));
        assert!(matches!(
            StoreError::from(failure(ErrorCode::DatabaseBusy, 517)),
            StoreError::Busy
        ));
        assert!(matches!(
            StoreError::from(failure(ErrorCode::ConstraintViolation, 2067)),
            StoreError::Duplicate
        ));
        assert!(matches!(
            StoreError::from(failure(ErrorCode::ConstraintViolation, 787)),
            StoreError::Db(_)
        ));
    }
}
