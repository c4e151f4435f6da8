//! SQLite writes on the calling thread (issue 10).
//!
//! The reads outside transactions already run inline ([`crate::inline_reader`]); this
//! does the same for the one writer. sqlx gave the writer a thread of its own, so a
//! refresh (a transaction of five statements) made seven round trips to it, each two
//! thread hand-overs and their wake-ups: most of the request's cost that was not
//! signing. Here the writer is one rusqlite connection behind an async mutex: a request
//! waits its turn (at most the configured wait, then [`crate::StoreError::Busy`]), and
//! then runs its statements directly, each in microseconds, without awaiting between
//! SQLite calls. A transaction holds the mutex from `BEGIN IMMEDIATE` to `COMMIT`, as it
//! held sqlx's single writer connection before; dropping it unfinished rolls it back.
//!
//! Inside a transaction nothing else can run a statement for it, so its rows are
//! decoded leniently ([`Decoder`]): a column no entity declares is read by the value's
//! own type.

use std::{
    path::Path,
    sync::{Arc, PoisonError},
    time::Duration,
};

use rusqlite::OpenFlags;
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DbBackend, DbErr, ExecResult, MockDatabase, MockExecResult,
    QueryResult, Statement,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{
    db::Counts,
    inline_reader::{self, Decoder, Kinds},
    sqlite_failure,
};

/// The writer connection, held for one statement or one transaction.
type Held = OwnedMutexGuard<rusqlite::Connection>;

/// The SQLite file's one writer connection, used on the calling thread.
pub(crate) struct InlineWriter {
    connection: Arc<Mutex<rusqlite::Connection>>,
    decoder: Decoder,
    wait: Duration,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for InlineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineWriter").finish_non_exhaustive()
    }
}

impl InlineWriter {
    /// The writer of the SQLite file at `path` (already created, in WAL mode), with
    /// the settings sqlx's writer had: foreign keys on, `synchronous = NORMAL`, and a
    /// lock held by another process waited for at most `wait`.
    pub(crate) fn open(
        path: &Path,
        wait: Duration,
        kinds: Arc<Kinds>,
        counts: Arc<Counts>,
    ) -> Result<Self, DbErr> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = rusqlite::Connection::open_with_flags(path, flags).map_err(conn_error)?;
        connection.busy_timeout(wait).map_err(conn_error)?;
        inline_reader::keep_statements(&connection)?;
        connection
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(conn_error)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            decoder: Decoder::new(kinds, true),
            wait,
            counts,
        })
    }

    /// The connection, once every request before this one is done with it; after
    /// `wait`, a busy error.
    async fn hold(&self) -> Result<Held, DbErr> {
        tokio::time::timeout(self.wait, self.connection.clone().lock_owned())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))
    }

    /// Runs one statement that returns no rows, in a transaction of its own.
    pub(crate) async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let done = {
            let held = self.hold().await?;
            self.execute_on(&held, &stmt)?
        };
        exec_result(stmt, done).await
    }

    /// Runs SQL text that may hold several statements and takes no parameters.
    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let done = {
            let held = self.hold().await?;
            self.batch_on(&held, sql)?
        };
        exec_result(Statement::from_string(DbBackend::Sqlite, sql), done).await
    }

    /// Runs one statement that returns rows (`… RETURNING`), in a transaction of its own.
    pub(crate) async fn query(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let rows = {
            let held = self.hold().await?;
            self.query_on(&held, &stmt)?
        };
        inline_reader::into_results(stmt, rows).await
    }

    /// Begins a transaction: holds the connection and takes SQLite's write lock now.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<InlineTx, DbErr> {
        let held = self.hold().await?;
        control(&held, "BEGIN IMMEDIATE")?;
        Ok(InlineTx {
            writer: self.clone(),
            held: std::sync::Mutex::new(Some(held)),
        })
    }

    fn execute_on(
        &self,
        connection: &rusqlite::Connection,
        stmt: &Statement,
    ) -> Result<MockExecResult, DbErr> {
        self.counted(&stmt.sql);
        let params = params(stmt)?;
        let mut prepared = connection.prepare_cached(&stmt.sql).map_err(exec_error)?;
        let rows_affected = prepared
            .execute(rusqlite::params_from_iter(params))
            .map_err(exec_error)?;
        Ok(MockExecResult {
            last_insert_id: u64::try_from(connection.last_insert_rowid()).unwrap_or_default(),
            rows_affected: rows_affected as u64,
        })
    }

    fn batch_on(
        &self,
        connection: &rusqlite::Connection,
        sql: &str,
    ) -> Result<MockExecResult, DbErr> {
        self.counted(sql);
        connection.execute_batch(sql).map_err(exec_error)?;
        Ok(MockExecResult {
            last_insert_id: u64::try_from(connection.last_insert_rowid()).unwrap_or_default(),
            rows_affected: connection.changes(),
        })
    }

    fn query_on(
        &self,
        connection: &rusqlite::Connection,
        stmt: &Statement,
    ) -> Result<Vec<inline_reader::Row>, DbErr> {
        self.counted(&stmt.sql);
        let params = params(stmt)?;
        // A lenient decoder decodes every column, so it always answers.
        self.decoder
            .rows(connection, &stmt.sql, &params)
            .unwrap_or_else(|| Err(DbErr::Type(format!("cannot decode {}", stmt.sql))))
    }

    fn counted(&self, sql: &str) {
        tracing::trace!(target: "careid_store::sql", %sql, "inline write");
        self.counts.statement();
    }
}

/// A transaction on the inline writer. Dropped without [`InlineTx::commit`], it rolls
/// back, so a request cancelled half-way leaves nothing half-written.
pub(crate) struct InlineTx {
    writer: Arc<InlineWriter>,
    /// `None` once ended. A rusqlite connection is not `Sync`, and sea-orm shares a
    /// transaction by reference between threads: an uncontended lock gives it that.
    held: std::sync::Mutex<Option<Held>>,
}

impl std::fmt::Debug for InlineTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineTx").finish_non_exhaustive()
    }
}

impl InlineTx {
    /// Runs `work` on the transaction's connection; an error once it has ended.
    fn with<T>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.as_deref() {
            Some(connection) => work(connection),
            None => Err(DbErr::Custom("the transaction has ended".into())),
        }
    }

    /// The connection, taken out: the transaction is over.
    fn end(&self) -> Option<Held> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    pub(crate) async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let done = self.with(|connection| self.writer.execute_on(connection, &stmt))?;
        exec_result(stmt, done).await
    }

    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let done = self.with(|connection| self.writer.batch_on(connection, sql))?;
        exec_result(Statement::from_string(DbBackend::Sqlite, sql), done).await
    }

    pub(crate) async fn query(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self.with(|connection| self.writer.query_on(connection, &stmt))?;
        inline_reader::into_results(stmt, rows).await
    }

    /// Commits, and lets the next request have the writer. If `COMMIT` fails the
    /// transaction is rolled back when this is dropped.
    pub(crate) fn commit(self) -> Result<(), DbErr> {
        self.with(|connection| control(connection, "COMMIT"))?;
        drop(self.end());
        Ok(())
    }

    /// Rolls back now.
    pub(crate) fn rollback(self) -> Result<(), DbErr> {
        match self.end() {
            Some(held) => control(&held, "ROLLBACK"),
            None => Ok(()),
        }
    }
}

impl Drop for InlineTx {
    fn drop(&mut self) {
        if let Some(held) = self.end() {
            // Fails only when SQLite has already rolled back (it does on some errors);
            // either way nothing of the transaction stays.
            if let Err(err) = control(&held, "ROLLBACK") {
                tracing::debug!(target: "careid_store::sql", %err, "rollback on drop");
            }
        }
    }
}

/// Runs `BEGIN IMMEDIATE`, `COMMIT` or `ROLLBACK`, kept prepared like every other
/// statement rather than parsed anew for each transaction.
fn control(connection: &rusqlite::Connection, sql: &str) -> Result<(), DbErr> {
    connection
        .prepare_cached(sql)
        .and_then(|mut prepared| prepared.execute([]))
        .map(drop)
        .map_err(exec_error)
}

/// The parameters of `stmt`; every type careid's entities use binds.
fn params(stmt: &Statement) -> Result<Vec<rusqlite::types::Value>, DbErr> {
    inline_reader::params(stmt)
        .ok_or_else(|| DbErr::Type(format!("a parameter type not bound inline: {}", stmt.sql)))
}

/// `done` as sea-orm's result of executing `stmt` (see [`inline_reader::into_results`]).
async fn exec_result(stmt: Statement, done: MockExecResult) -> Result<ExecResult, DbErr> {
    MockDatabase::new(DbBackend::Sqlite)
        .append_exec_results([done])
        .into_connection()
        .execute_raw(stmt)
        .await
}

fn exec_error(err: rusqlite::Error) -> DbErr {
    DbErr::Exec(sqlite_failure::runtime(err))
}

fn conn_error(err: rusqlite::Error) -> DbErr {
    DbErr::Conn(sqlite_failure::runtime(err))
}

#[cfg(test)]
mod tests {
    use sea_orm::EntityTrait;
    use time::macros::datetime;

    use super::*;
    use crate::{Db, StoreError, accounts};

    async fn file_db(wait: Duration) -> (tempfile::TempDir, Db, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/careid.db?mode=rwc", dir.path().display());
        crate::migrate(&url).await.unwrap();
        let db = crate::connect_with(&url, 2, wait).await.unwrap();
        (dir, db, url)
    }

    fn ada() -> accounts::NewAccount {
        accounts::NewAccount {
            email: "ada@example.org".into(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            status: accounts::Status::Active,
            invitation_state: "accepted",
            name: "Ada Okafor".into(),
            subject: "sub-ada".into(),
        }
    }

    /// What sqlx's own reader sees of the account: the rows the writer wrote.
    async fn stored(db: &Db, id: crate::AccountId) -> accounts::Account {
        accounts::entity::Entity::find_by_id(id)
            .one(db.reader())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn rows_written_here_are_the_rows_sqlx_reads_back() {
        let (_dir, db, _) = file_db(Duration::from_secs(5)).await;
        let at = datetime!(2026-12-01 13:40:05.25 UTC);
        let account = accounts::insert_account(&db, ada(), at).await.unwrap();
        assert_eq!(stored(&db, account.id).await, account);

        // `UPDATE … RETURNING`: SQLite names no origin for these columns, so they are
        // decoded as the written table's, instants and booleans included.
        let later = at + time::Duration::minutes(3);
        let returned = accounts::update_require_mfa(&db, account.id, true, later)
            .await
            .unwrap()
            .expect("the account");
        assert!(returned.require_mfa);
        assert_eq!(returned.updated_at, later);
        assert_eq!(stored(&db, account.id).await, returned);

        // A key taken already is a duplicate, not a database failure.
        let again = accounts::insert_account(&db, ada(), at).await;
        assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
    }

    #[tokio::test]
    async fn a_transaction_dropped_unfinished_leaves_nothing() {
        let (_dir, db, _) = file_db(Duration::from_secs(5)).await;
        let at = datetime!(2026-12-01 13:40:05 UTC);
        let account = accounts::insert_account(&db, ada(), at).await.unwrap();

        let txn = db.begin().await.unwrap();
        let inside = accounts::update_require_mfa(&txn, account.id, true, at)
            .await
            .unwrap()
            .unwrap();
        assert!(inside.require_mfa, "the transaction sees its own write");
        drop(txn);
        assert!(!stored(&db, account.id).await.require_mfa);

        let txn = db.begin().await.unwrap();
        accounts::update_require_mfa(&txn, account.id, true, at)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert!(stored(&db, account.id).await.require_mfa);
    }

    #[tokio::test]
    async fn a_writer_held_past_the_wait_is_busy() {
        let (_dir, db, url) = file_db(Duration::from_millis(100)).await;
        let txn = db.begin().await.unwrap();
        // Another request of this server waits for the writer's turn...
        let queued = db.begin().await;
        assert!(
            matches!(queued.map_err(StoreError::from), Err(StoreError::Busy)),
            "a second transaction waits at most the configured wait"
        );
        // ...and another process for SQLite's lock.
        let other = crate::connect_with(&url, 1, Duration::from_millis(100))
            .await
            .unwrap();
        let locked = other.begin().await;
        assert!(matches!(
            locked.map_err(StoreError::from),
            Err(StoreError::Busy)
        ));
        txn.rollback().await.unwrap();
        other.begin().await.unwrap().commit().await.unwrap();
    }
}
