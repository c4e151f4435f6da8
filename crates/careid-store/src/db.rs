//! Connecting to the database and running migrations.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::{
    StoreError, Tx,
    inline_reader::{self, InlineReader},
    inline_writer::InlineWriter,
};

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

/// How long a request waits for the database (the SQLite writer, or a pooled
/// connection) before the store answers [`StoreError::Busy`]: overload becomes a
/// 503 with `Retry-After`, never a queue that grows without end.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// How long `migrate` waits for another instance's migration to finish.
const MIGRATION_WAIT: Duration = Duration::from_secs(600);

/// How long a PostgreSQL connection may sit idle before it is pinged on checkout.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// careid's database handle: a pool of readers and the connections that write.
///
/// On SQLite there is one writer connection beside a pool of read-only ones
/// (DESIGN.md, "Storage and scale"): every write and every transaction runs on the
/// writer, and each transaction begins `IMMEDIATE`, so a transaction that reads and then
/// writes holds the write lock from its first statement and can never fail with
/// `SQLITE_BUSY_SNAPSHOT`. On PostgreSQL readers and writers are one pool; counters and
/// single-use values rely on conditional statements and row locks there.
///
/// `Db` is a [`ConnectionTrait`] itself: a statement that only reads (`SELECT …`) goes
/// to a reader, anything else to the writer, so every `&impl ConnectionTrait` query
/// function takes it as it is.
#[derive(Debug, Clone)]
pub struct Db {
    reader: DatabaseConnection,
    writer: DatabaseConnection,
    /// On a SQLite file, reads outside transactions run here, on the calling thread
    /// ([`InlineReader`]); `reader` takes those it cannot decode.
    inline: Option<Arc<InlineReader>>,
    /// On a SQLite file, every write and transaction runs here, on the calling thread
    /// ([`InlineWriter`]); `writer` is then used only by migrations and seeding.
    inline_writer: Option<Arc<InlineWriter>>,
    counts: Arc<Counts>,
}

/// How much work this handle has sent to the database since it was opened: what the
/// statement budgets of the hot paths are measured with (tests/tests/statements.rs).
#[derive(Debug, Default)]
pub struct Counts {
    statements: AtomicU64,
    transactions: AtomicU64,
}

impl Counts {
    /// Counts one statement run outside sqlx.
    pub(crate) fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }
}

/// A reading of [`Counts`]; subtract two readings to get what happened in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Statements run, inside transactions or not (`BEGIN`/`COMMIT` not included).
    pub statements: u64,
    /// Transactions begun.
    pub transactions: u64,
}

impl std::ops::Sub for Tally {
    type Output = Tally;

    fn sub(self, earlier: Tally) -> Tally {
        Tally {
            statements: self.statements - earlier.statements,
            transactions: self.transactions - earlier.transactions,
        }
    }
}

impl Db {
    /// Starts a transaction on the writer; on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`). Dropping it without `commit` rolls it back.
    pub async fn begin(&self) -> Result<Tx, DbErr> {
        self.counts.transactions.fetch_add(1, Ordering::Relaxed);
        if let Some(writer) = &self.inline_writer {
            return Ok(Tx::inline(writer.begin().await?));
        }
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.writer.get_database_backend() == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(Tx::pool(self.writer.begin_with_options(options).await?))
    }

    /// sqlx's connection that writes: on a SQLite file, for work that needs sqlx's own
    /// connection (migrations, seeding); a request's writes go through `Db` itself.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }

    /// A connection for reads that need not see an open transaction.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.reader
    }

    /// The inline reader, for tests that check what it decodes.
    #[cfg(test)]
    pub(crate) fn inline(&self) -> Option<&InlineReader> {
        self.inline.as_deref()
    }

    /// Statements and transactions sent so far, by this handle and its clones.
    pub fn tally(&self) -> Tally {
        Tally {
            statements: self.counts.statements.load(Ordering::Relaxed),
            transactions: self.counts.transactions.load(Ordering::Relaxed),
        }
    }

    /// Wraps the two connections, counting every statement either runs (also inside
    /// transactions, which inherit the connection's callback).
    fn counting(mut reader: DatabaseConnection, mut writer: DatabaseConnection) -> Self {
        let counts = Arc::new(Counts::default());
        for connection in [&mut reader, &mut writer] {
            let counts = counts.clone();
            connection.set_metric_callback(move |info| {
                // `CAREID_LOG=careid_store::sql=trace` lists what a request sends.
                tracing::trace!(target: "careid_store::sql", sql = %info.statement.sql);
                counts.statements.fetch_add(1, Ordering::Relaxed);
            });
        }
        Self {
            reader,
            writer,
            inline: None,
            inline_writer: None,
            counts,
        }
    }

    /// This handle with its reads outside transactions and its writes run on the
    /// calling thread, on the SQLite file at `file`.
    fn run_inline(mut self, file: &Path, wait: Duration) -> Result<Self, DbErr> {
        let kinds = Arc::new(inline_reader::entity_kinds());
        let writer = InlineWriter::open(file, wait, kinds.clone(), self.counts.clone())?;
        self.inline = Some(Arc::new(InlineReader::new(file, wait, kinds)));
        self.inline_writer = Some(Arc::new(writer));
        Ok(self)
    }

    /// Runs a read on the inline reader, if there is one and it can; counted and traced
    /// as sqlx's statements are.
    fn read_inline(&self, stmt: &Statement) -> Option<Result<Vec<inline_reader::Row>, DbErr>> {
        let rows = self.inline.as_ref()?.query(stmt)?;
        tracing::trace!(target: "careid_store::sql", sql = %stmt.sql, "inline");
        self.counts.statements.fetch_add(1, Ordering::Relaxed);
        Some(rows)
    }

    /// Closes both pools.
    pub async fn close(self) -> Result<(), DbErr> {
        self.reader.close_by_ref().await?;
        self.writer.close_by_ref().await
    }
}

/// Whether a statement only reads, and so may run on a reader.
/// Runs on every statement, so it allocates nothing.
fn is_read_only(sql: &str) -> bool {
    const LOCK: &[u8] = b" FOR UPDATE";
    let sql = sql.trim_start();
    let is_select = sql
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("SELECT"));
    is_select
        && !sql
            .as_bytes()
            .windows(LOCK.len())
            .any(|window| window.eq_ignore_ascii_case(LOCK))
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.writer.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.inline_writer {
            Some(writer) => writer.execute(stmt).await,
            None => self.writer.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.inline_writer {
            Some(writer) => writer.execute_unprepared(sql).await,
            None => self.writer.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if is_read_only(&stmt.sql) {
            if let Some(rows) = self.read_inline(&stmt) {
                let found = inline_reader::into_results(stmt, rows?).await?;
                return Ok(found.into_iter().next());
            }
            self.reader.query_one_raw(stmt).await
        } else if let Some(writer) = &self.inline_writer {
            Ok(writer.query(stmt).await?.into_iter().next())
        } else {
            self.writer.query_one_raw(stmt).await
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if is_read_only(&stmt.sql) {
            if let Some(rows) = self.read_inline(&stmt) {
                return inline_reader::into_results(stmt, rows?).await;
            }
            self.reader.query_all_raw(stmt).await
        } else if let Some(writer) = &self.inline_writer {
            writer.query(stmt).await
        } else {
            self.writer.query_all_raw(stmt).await
        }
    }
}

/// Opens the database at `url`: on SQLite one writer and up to `max_connections`
/// read-only connections (the file and its folder are created if missing); on
/// PostgreSQL one pool of `max_connections`. Waits at most [`DEFAULT_WAIT`] for a
/// connection.
pub async fn connect(url: &str, max_connections: u32) -> Result<Db, StoreError> {
    connect_with(url, max_connections, DEFAULT_WAIT).await
}

/// [`connect`], waiting at most `wait` for a connection before [`StoreError::Busy`].
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    wait: Duration,
) -> Result<Db, StoreError> {
    let max_connections = max_connections.max(1);
    if Backend::of(url) != Some(Backend::Sqlite) {
        let mut opts = options(url, max_connections, wait);
        // A statement waiting on a row lock gives up with 55P03 after the same wait, so a
        // stuck lock holder turns into 503s rather than requests that hang.
        let lock_timeout = format!("{}ms", wait.as_millis());
        opts.map_sqlx_postgres_opts(move |o| o.options([("lock_timeout", lock_timeout.clone())]));
        // A connection that has been busy lately is alive; only one idle long enough for
        // the server, a proxy or a firewall to have dropped it is pinged first. A ping on
        // every checkout would add a round trip to every statement.
        opts.test_before_acquire_if_idle_for(PING_AFTER_IDLE);
        let db = Database::connect(opts).await?;
        return Ok(Db::counting(db.clone(), db));
    }
    let Some(dir) = sqlite_dir(url) else {
        // An in-memory database lives in one connection: it reads and writes there.
        let db = open_sqlite(url, 1, wait, false).await?;
        return Ok(Db::counting(db.clone(), db));
    };
    std::fs::create_dir_all(&dir)
        .map_err(|err| StoreError::Corrupt(format!("cannot create {}: {err}", dir.display())))?;
    // The writer first: it creates the file and switches it to WAL, which readers need.
    let writer = open_sqlite(url, 1, wait, false).await?;
    let reader = open_sqlite(url, max_connections, wait, true).await?;
    let db = Db::counting(reader, writer);
    Ok(match sqlite_file(url) {
        Some(file) => db.run_inline(&file, wait)?,
        None => db,
    })
}

fn options(url: &str, max_connections: u32, wait: Duration) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(wait)
        .sqlx_logging(false);
    opts
}

async fn open_sqlite(
    url: &str,
    max_connections: u32,
    wait: Duration,
    read_only: bool,
) -> Result<DatabaseConnection, StoreError> {
    let mut opts = options(url, max_connections, wait);
    // A file has no server to drop the connection. sqlx would otherwise ping every
    // connection it hands out: one more trip to the connection's thread per statement.
    opts.test_before_acquire(false);
    opts.map_sqlx_sqlite_opts(move |o| {
        o.create_if_missing(!read_only)
            .read_only(read_only)
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            // The writer is one connection, so waiting here only happens when another
            // process (a CLI command) holds the lock.
            .busy_timeout(wait)
            .foreign_keys(true)
    });
    Ok(Database::connect(opts).await?)
}

/// Brings the schema up to date. Safe to run on every start and from several
/// instances at once: on PostgreSQL one migrates while the others wait on a lock.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    // One connection, so the session-level advisory lock and the migration share it. It
    // may wait long: another instance may be migrating.
    let db = connect_with(url, 1, MIGRATION_WAIT).await?;
    let db = db.writer();
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_lock(7365237)")
            .await?;
        let outcome = Migrator::up(db, None).await;
        db.execute_unprepared("SELECT pg_advisory_unlock(7365237)")
            .await?;
        outcome?;
    } else {
        Migrator::up(db, None).await?;
    }
    db.close_by_ref().await?;
    Ok(())
}

/// The database file a `sqlite:` URL names; `None` for an in-memory database or
/// another backend.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The folder of a `sqlite:` URL's file, if it names one.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    sqlite_file(url)?
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file() {
        assert_eq!(
            sqlite_file("sqlite://data/careid.db?mode=rwc"),
            Some(PathBuf::from("data/careid.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/careid/careid.db"),
            Some(PathBuf::from("/var/lib/careid/careid.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/careid"), None);
    }

    #[test]
    fn a_sqlite_url_names_its_folder() {
        assert_eq!(
            sqlite_dir("sqlite://data/careid.db?mode=rwc"),
            Some(PathBuf::from("data"))
        );
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(Backend::of("postgres://x/y"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://x"), None);
    }

    #[test]
    fn only_plain_selects_go_to_a_reader() {
        assert!(is_read_only("SELECT \"id\" FROM \"accounts\""));
        assert!(is_read_only("  select 1"));
        assert!(!is_read_only("UPDATE accounts SET x = 1 RETURNING id"));
        assert!(!is_read_only("INSERT INTO t VALUES (1) RETURNING id"));
        assert!(!is_read_only(
            "SELECT * FROM accounts WHERE id = 1 FOR UPDATE"
        ));
        assert!(!is_read_only("SEL"));
    }

    #[tokio::test]
    async fn a_write_sent_to_a_sqlite_reader_is_refused() {
        let dir = std::env::temp_dir().join(format!("careid-db-{}", std::process::id()));
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.display());
        let db = connect(&url, 2).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .unwrap();
        // Routed by the statement: the insert goes to the writer, the select to a reader.
        db.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(Statement::from_string(backend, "SELECT n FROM t"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i32>("", "n").unwrap(), 1);
        // The readers are read-only: a write that slipped past the routing fails loudly.
        let refused = db
            .reader()
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await;
        assert!(refused.is_err(), "a reader accepted a write");
        db.close().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
