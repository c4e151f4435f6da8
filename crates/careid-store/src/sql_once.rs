//! SQL text built by sea-query once per backend, for the statements every token request
//! runs. sea-query writes a query's text anew each time, quoting every identifier
//! through the formatter: for the profile-and-account lookup behind userinfo and
//! introspection that was a tenth of the request's CPU, to produce the same text as
//! the last time. The values still change with every call; the caller lists them in the
//! order the built statement binds them, and a test holds each cached statement equal to
//! the one sea-query builds.

use std::sync::OnceLock;

use sea_orm::{DbBackend, Statement, Value};

/// One statement's text, per backend.
pub(crate) struct SqlOnce {
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl SqlOnce {
    pub(crate) const fn new() -> Self {
        Self {
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The statement with `values`, its text from `build` the first time on `backend`.
    pub(crate) fn statement(
        &self,
        backend: DbBackend,
        values: Vec<Value>,
        build: impl FnOnce() -> Statement,
    ) -> Statement {
        let slot = match backend {
            DbBackend::Postgres => &self.postgres,
            _ => &self.sqlite,
        };
        let sql = slot.get_or_init(|| build().sql);
        Statement::from_sql_and_values(backend, sql.as_str(), values)
    }
}
