//! SQLite reads on the calling thread (issue 10).
//!
//! sqlx gives every SQLite connection a thread of its own: each statement is sent to it
//! over a channel and its rows come back the same way, so a one-row read costs two thread
//! hand-overs and their wake-ups, far more than SQLite's own work. On two cores that
//! was most of a userinfo call's CPU. An [`InlineReader`] runs a `SELECT` outside a
//! transaction directly, on the thread that asks, with a read-only rusqlite connection of
//! its own; SQLite in WAL mode never makes a reader wait for the writer, so the call
//! takes microseconds and cannot block on a lock.
//!
//! The rows become sea-orm [`QueryResult`]s, so every query function and entity model is
//! unchanged. sea-orm decodes such rows strictly by value type, and treats a mismatch on
//! an `Option` field as `None`; so each result column must have exactly the type its
//! model field has. That type is read from the entities themselves ([`Kinds`]): a
//! column is decoded only when SQLite names the table column it comes from and an entity
//! declares it. A statement with any other column (an expression, an aggregate other
//! than sea-orm's `num_items` count) is not run here, and goes to sqlx as before.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::Duration,
};

use rusqlite::{
    OpenFlags,
    types::{Value as Raw, ValueRef},
};
use sea_orm::{
    ColumnTrait, ColumnType, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    MockDatabase, QueryResult, Statement, Value,
};
use time::{
    OffsetDateTime, PrimitiveDateTime,
    format_description::{BorrowedFormatItem, well_known::Rfc3339},
    macros::format_description,
};

/// One row: each column's name and value, as sea-orm reads a row of canned values.
pub(crate) type Row = BTreeMap<String, Value>;

/// How one result column is decoded: the value type of the model field it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    BigInt,
    Bool,
    Text,
    Time,
    Json,
    /// A column no entity declares (an expression), read only inside the writer's
    /// transactions, where sqlx cannot take over: decoded by SQLite's own type of the
    /// value (an integer as an `i64`).
    Any,
}

impl Kind {
    /// The kind of a sea-orm column type; `None` for types careid's entities do not use.
    fn of(column_type: &ColumnType) -> Option<Self> {
        match column_type {
            ColumnType::Integer => Some(Self::Int),
            ColumnType::BigInteger => Some(Self::BigInt),
            ColumnType::Boolean => Some(Self::Bool),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Some(Self::Text),
            ColumnType::TimestampWithTimeZone => Some(Self::Time),
            ColumnType::Json | ColumnType::JsonBinary => Some(Self::Json),
            _ => None,
        }
    }

    /// SQL `NULL` as this kind's value.
    fn null(self) -> Value {
        match self {
            Self::Int => Value::Int(None),
            Self::BigInt => Value::BigInt(None),
            Self::Bool => Value::Bool(None),
            Self::Text => Value::String(None),
            Self::Time => Value::TimeDateTimeWithTimeZone(None),
            Self::Json => Value::Json(None),
            Self::Any => Value::BigInt(None),
        }
    }

    /// The stored value `raw` as this kind's value, decoded as sqlx decodes it.
    fn decode(self, raw: ValueRef<'_>) -> Result<Value, String> {
        Ok(match (self, raw) {
            (kind, ValueRef::Null) => kind.null(),
            (Self::Int, ValueRef::Integer(i)) => {
                Value::Int(Some(i32::try_from(i).map_err(|e| e.to_string())?))
            }
            (Self::BigInt, ValueRef::Integer(i)) => Value::BigInt(Some(i)),
            (Self::Bool, ValueRef::Integer(i)) => Value::Bool(Some(i != 0)),
            (Self::Text, ValueRef::Text(t)) => Value::String(Some(utf8(t)?.to_owned())),
            (Self::Time, ValueRef::Text(t)) => {
                Value::TimeDateTimeWithTimeZone(Some(parse_time(utf8(t)?)?))
            }
            (Self::Time, ValueRef::Integer(i)) => Value::TimeDateTimeWithTimeZone(Some(
                OffsetDateTime::from_unix_timestamp(i).map_err(|e| e.to_string())?,
            )),
            (Self::Json, ValueRef::Text(t)) => Value::Json(Some(Box::new(
                serde_json::from_slice(t).map_err(|e| e.to_string())?,
            ))),
            (Self::Any, ValueRef::Integer(i)) => Value::BigInt(Some(i)),
            (Self::Any, ValueRef::Real(r)) => Value::Double(Some(r)),
            (Self::Any, ValueRef::Text(t)) => Value::String(Some(utf8(t)?.to_owned())),
            (Self::Any, ValueRef::Blob(b)) => Value::Bytes(Some(b.to_vec())),
            (kind, raw) => {
                return Err(format!(
                    "a {:?} value for a {kind:?} column",
                    raw.data_type()
                ));
            }
        })
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| e.to_string())
}

/// A stored instant: RFC 3339, as sqlx writes it, or SQLite's own `YYYY-MM-DD HH:MM:SS`
/// (UTC), the other form sqlx reads.
fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    const SQLITE: &[BorrowedFormatItem<'_>] = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| PrimitiveDateTime::parse(text, SQLITE).map(PrimitiveDateTime::assume_utc))
        .map_err(|_| format!("not an instant: {text:?}"))
}

/// A parameter as SQLite receives it from sqlx: instants as RFC 3339 text, JSON as its
/// text, booleans as 0 and 1. `None` for a type careid does not bind, so the statement
/// goes to sqlx.
fn bind(value: &Value) -> Option<Raw> {
    Some(match value {
        Value::Bool(v) => v.map_or(Raw::Null, |b| Raw::Integer(i64::from(b))),
        Value::TinyInt(v) => v.map_or(Raw::Null, |i| Raw::Integer(i64::from(i))),
        Value::SmallInt(v) => v.map_or(Raw::Null, |i| Raw::Integer(i64::from(i))),
        Value::Int(v) => v.map_or(Raw::Null, |i| Raw::Integer(i64::from(i))),
        Value::BigInt(v) => v.map_or(Raw::Null, Raw::Integer),
        Value::TinyUnsigned(v) => v.map_or(Raw::Null, |i| Raw::Integer(i64::from(i))),
        Value::SmallUnsigned(v) => v.map_or(Raw::Null, |i| Raw::Integer(i64::from(i))),
        Value::Unsigned(v) => v.map_or(Raw::Null, |i| Raw::Integer(i64::from(i))),
        Value::BigUnsigned(v) => match v {
            None => Raw::Null,
            Some(i) => Raw::Integer(i64::try_from(*i).ok()?),
        },
        Value::String(v) => v.as_ref().map_or(Raw::Null, |s| Raw::Text(s.clone())),
        Value::TimeDateTimeWithTimeZone(v) => match v {
            None => Raw::Null,
            Some(at) => Raw::Text(at.format(&Rfc3339).ok()?),
        },
        Value::Json(v) => match v {
            None => Raw::Null,
            Some(json) => Raw::Text(json.to_string()),
        },
        _ => return None,
    })
}

/// The kind of every `(table, column)` careid's entities declare. A column two entities
/// declare with different types is left out, so reads of it go to sqlx.
#[derive(Debug, Default)]
pub(crate) struct Kinds(HashMap<(String, String), Option<Kind>>);

impl Kinds {
    /// Adds the columns of entity `E`.
    pub(crate) fn with<E: EntityTrait>(mut self) -> Self {
        let table = E::default().table_name().to_owned();
        for column in E::Column::iter() {
            let kind = Kind::of(column.def().get_column_type());
            let key = (table.clone(), column.as_str().to_owned());
            let merged = match self.0.get(&key) {
                Some(known) if *known != kind => None,
                _ => kind,
            };
            self.0.insert(key, merged);
        }
        self
    }

    fn get(&self, table: &str, column: &str) -> Option<Kind> {
        // Allocation-free lookups would need a borrowed key type; plans are made once
        // per statement text, so this runs rarely.
        self.0
            .get(&(table.to_owned(), column.to_owned()))
            .copied()
            .flatten()
    }
}

/// How the rows of one statement text are decoded: each column's name and kind.
type Plan = Arc<[(String, Kind)]>;

/// Runs statements on a rusqlite connection and decodes their rows into the value
/// types careid's entities declare, remembering per statement text how.
///
/// A strict decoder (the reader's) refuses a statement with a column no entity
/// declares: sqlx, which decodes by the type the caller asks for, runs it instead. A
/// lenient one (the writer's, inside whose transactions nothing else can run) decodes
/// such a column by the value's own type ([`Kind::Any`]), and reads the columns of
/// `INSERT`/`UPDATE`/`DELETE … RETURNING`, which SQLite gives no origin, as the
/// written table's.
pub(crate) struct Decoder {
    kinds: Arc<Kinds>,
    lenient: bool,
    /// Per statement text: its plan, or `None` when it must go to sqlx.
    plans: RwLock<HashMap<String, Option<Plan>>>,
}

impl Decoder {
    pub(crate) fn new(kinds: Arc<Kinds>, lenient: bool) -> Self {
        Self {
            kinds,
            lenient,
            plans: RwLock::new(HashMap::new()),
        }
    }

    /// How many statement texts it has decoded and how many it left to sqlx.
    #[cfg(test)]
    pub(crate) fn plan_counts(&self) -> (usize, usize) {
        let plans = self.plans.read().unwrap_or_else(PoisonError::into_inner);
        let decoded = plans.values().filter(|p| p.is_some()).count();
        (decoded, plans.len() - decoded)
    }

    fn is_known_unfit(&self, sql: &str) -> bool {
        self.plans
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
            .is_some_and(Option::is_none)
    }

    /// Runs `sql` with `params` on `connection` and decodes its rows; `None` when a
    /// strict decoder cannot decode them.
    pub(crate) fn rows(
        &self,
        connection: &rusqlite::Connection,
        sql: &str,
        params: &[Raw],
    ) -> Option<Result<Vec<Row>, DbErr>> {
        let mut prepared = match connection.prepare_cached(sql) {
            Ok(prepared) => prepared,
            Err(err) => return Some(Err(query_error(err))),
        };
        let plan = self.plan(sql, &prepared)?;
        let mut rows = match prepared.query(rusqlite::params_from_iter(params)) {
            Ok(rows) => rows,
            Err(err) => return Some(Err(query_error(err))),
        };
        let mut results = Vec::new();
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return Some(Ok(results)),
                Err(err) => return Some(Err(query_error(err))),
            };
            let mut values = Row::new();
            for (i, (name, kind)) in plan.iter().enumerate() {
                let value = row
                    .get_ref(i)
                    .map_err(query_error)
                    .and_then(|raw| kind.decode(raw).map_err(|e| type_error(name, &e)));
                match value {
                    Ok(value) => values.insert(name.clone(), value),
                    Err(err) => return Some(Err(err)),
                };
            }
            results.push(values);
        }
    }

    /// The plan of `sql`, made from the prepared statement's column origins the first
    /// time; `None` (remembered) when a strict decoder meets a column of unknown type.
    fn plan(&self, sql: &str, prepared: &rusqlite::CachedStatement<'_>) -> Option<Plan> {
        if let Some(known) = self
            .plans
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
        {
            return known.clone();
        }
        let written = self.lenient.then(|| written_table(sql)).flatten();
        let plan: Option<Plan> = prepared
            .columns_with_metadata()
            .iter()
            .map(|column| {
                let kind = match (column.table_name(), column.origin_name()) {
                    (Some(table), Some(origin)) => self.kinds.get(table, origin),
                    // sea-orm's `count()` reads this alias as an i64.
                    _ if column.name() == "num_items" => Some(Kind::BigInt),
                    _ => written.and_then(|table| self.kinds.get(table, column.name())),
                };
                let kind = kind.or(self.lenient.then_some(Kind::Any));
                kind.map(|kind| (column.name().to_owned(), kind))
            })
            .collect::<Option<Vec<_>>>()
            .map(Into::into);
        if plan.is_none() {
            tracing::debug!(target: "careid_store::sql", %sql, "read left to sqlx");
        }
        self.plans
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sql.to_owned(), plan.clone());
        plan
    }
}

/// The table an `INSERT INTO "t"`, `UPDATE "t"` or `DELETE FROM "t"` writes, as sea-orm
/// spells them; `None` for anything else.
fn written_table(sql: &str) -> Option<&str> {
    let rest = ["INSERT INTO ", "UPDATE ", "DELETE FROM "]
        .iter()
        .find_map(|verb| sql.trim_start().strip_prefix(verb))?;
    let rest = rest.strip_prefix('"')?;
    rest.split_once('"').map(|(table, _)| table)
}

/// The parameters of `stmt` as SQLite receives them from sqlx; `None` when one has a
/// type careid does not bind.
pub(crate) fn params(stmt: &Statement) -> Option<Vec<Raw>> {
    match &stmt.values {
        None => Some(Vec::new()),
        Some(values) => values.iter().map(bind).collect(),
    }
}

/// Read-only SQLite connections used on the calling thread, made as needed: a query
/// holds one only while it runs, without awaiting, so there are never more than the
/// threads that run queries.
pub(crate) struct InlineReader {
    path: PathBuf,
    wait: Duration,
    idle: Mutex<Vec<rusqlite::Connection>>,
    decoder: Decoder,
}

impl std::fmt::Debug for InlineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Statements a connection keeps prepared: careid runs a few dozen distinct reads.
const PREPARED: usize = 256;

/// Sets a new connection up to reuse its prepared statements. Besides the cache, this
/// turns on SQLite's query planner stability guarantee: without it SQLite re-prepared
/// a statement whose plan might depend on a bound value each time it was bound anew
/// (a profile counted one `sqlite3Reprepare` per userinfo call, parsing and planning
/// the join again). careid's queries bind every value, so a plan chosen for one value
/// is the plan for all.
pub(crate) fn keep_statements(connection: &rusqlite::Connection) -> Result<(), DbErr> {
    connection.set_prepared_statement_cache_capacity(PREPARED);
    connection
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(query_error)?;
    Ok(())
}

impl InlineReader {
    /// Readers of the SQLite file at `path`, decoding the columns `kinds` declares; a
    /// busy file (a checkpoint, a backup) is waited for at most `wait`.
    pub(crate) fn new(path: &Path, wait: Duration, kinds: Arc<Kinds>) -> Self {
        Self {
            path: path.to_owned(),
            wait,
            idle: Mutex::new(Vec::new()),
            decoder: Decoder::new(kinds, false),
        }
    }

    /// Runs `stmt` here and now. `None` when it cannot be run here (a parameter or a
    /// result column of a type this reader does not decode): the caller sends it to sqlx.
    pub(crate) fn query(&self, stmt: &Statement) -> Option<Result<Vec<Row>, DbErr>> {
        if self.decoder.is_known_unfit(&stmt.sql) {
            return None;
        }
        let params = params(stmt)?;
        let connection = match self.take() {
            Ok(connection) => connection,
            Err(err) => return Some(Err(err)),
        };
        let outcome = self.decoder.rows(&connection, &stmt.sql, &params);
        // A connection whose statement failed is closed rather than kept: a new one is
        // cheap, and it is never left in an unknown state.
        if outcome.as_ref().is_none_or(Result::is_ok) {
            self.give_back(connection);
        }
        outcome
    }

    /// How many statement texts it has decoded and how many it left to sqlx.
    #[cfg(test)]
    pub(crate) fn plan_counts(&self) -> (usize, usize) {
        self.decoder.plan_counts()
    }

    /// How often the connection that has run `sql` ran it, and prepared it again.
    #[cfg(test)]
    pub(crate) fn runs_and_reprepares(&self, sql: &str) -> (i32, i32) {
        use rusqlite::StatementStatus;
        let connection = self.take().unwrap();
        let prepared = connection.prepare_cached(sql).unwrap();
        let counts = (
            prepared.get_status(StatementStatus::Run),
            prepared.get_status(StatementStatus::RePrepare),
        );
        drop(prepared);
        self.give_back(connection);
        counts
    }

    fn take(&self) -> Result<rusqlite::Connection, DbErr> {
        if let Some(connection) = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection =
            rusqlite::Connection::open_with_flags(&self.path, flags).map_err(query_error)?;
        connection.busy_timeout(self.wait).map_err(query_error)?;
        keep_statements(&connection)?;
        Ok(connection)
    }

    fn give_back(&self, connection: rusqlite::Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
    }
}

/// `rows` as sea-orm's query results for `stmt`. sea-orm builds a [`QueryResult`] from
/// typed values only through its canned-row connection, so the rows pass through one;
/// it runs nothing and costs an allocation or two. (Its `proxy` feature, the other way,
/// does not build with sea-query 1.0.2.)
pub(crate) async fn into_results(
    stmt: Statement,
    rows: Vec<Row>,
) -> Result<Vec<QueryResult>, DbErr> {
    MockDatabase::new(DbBackend::Sqlite)
        .append_query_results([rows])
        .into_connection()
        .query_all_raw(stmt)
        .await
}

/// A failed read as sea-orm reports sqlx's, so that [`crate::StoreError`] tells a
/// busy database and a duplicate key as it does for them.
pub(crate) fn query_error(err: rusqlite::Error) -> DbErr {
    DbErr::Query(crate::sqlite_failure::runtime(err))
}

fn type_error(column: &str, problem: &str) -> DbErr {
    DbErr::Type(format!("column {column}: {problem}"))
}

/// The columns of every careid entity. An entity missing here is still read, by sqlx.
pub(crate) fn entity_kinds() -> Kinds {
    use crate::*;
    Kinds::default()
        .with::<accounts::entity::Entity>()
        .with::<audit::entity::Entity>()
        .with::<authorization_requests::entity::Entity>()
        .with::<client_assertions::entity::Entity>()
        .with::<clients::entity::Entity>()
        .with::<codes::entity::Entity>()
        .with::<consents::entity::Entity>()
        .with::<install_secrets::entity::Entity>()
        .with::<logout_deliveries::entity::Entity>()
        .with::<one_time_tokens::entity::Entity>()
        .with::<pairwise::subject_entity::Entity>()
        .with::<passkey_ceremonies::entity::Entity>()
        .with::<passkeys::entity::Entity>()
        .with::<password_history::entity::Entity>()
        .with::<profiles::entity::Entity>()
        .with::<recovery_codes::entity::Entity>()
        .with::<refresh_tokens::entity::Entity>()
        .with::<registration_tokens::entity::Entity>()
        .with::<revoked_access_tokens::entity::Entity>()
        .with::<sessions::entity::Entity>()
        .with::<sessions::client_entity::Entity>()
        .with::<signing_keys::entity::Entity>()
        .with::<totp_factors::entity::Entity>()
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter};
    use time::macros::datetime;

    use super::*;
    use crate::{AccountId, Db, accounts, profiles};

    #[test]
    fn every_column_of_every_entity_has_a_kind() {
        let kinds = entity_kinds();
        let untyped: Vec<_> = kinds.0.iter().filter(|(_, k)| k.is_none()).collect();
        assert!(untyped.is_empty(), "{untyped:?}");
        assert!(kinds.get("accounts", "failed_attempts") == Some(Kind::Int));
        assert!(kinds.get("accounts", "id") == Some(Kind::BigInt));
        assert!(kinds.get("profiles", "email_verified") == Some(Kind::Bool));
    }

    #[test]
    fn instants_read_as_sqlx_writes_them_and_as_sqlite_does() {
        let at = datetime!(2026-12-01 13:40:05.123456 UTC);
        let written = at.format(&Rfc3339).unwrap();
        assert_eq!(parse_time(&written), Ok(at));
        assert_eq!(
            parse_time("2026-12-01 13:40:05"),
            Ok(datetime!(2026-12-01 13:40:05 UTC))
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn the_written_table_is_read_from_sea_orms_spelling_only() {
        assert_eq!(
            written_table(r#"INSERT INTO "codes" ("a") VALUES (?) RETURNING "a""#),
            Some("codes")
        );
        assert_eq!(
            written_table(r#"UPDATE "accounts" SET "x" = ? RETURNING "x""#),
            Some("accounts")
        );
        assert_eq!(
            written_table(r#"DELETE FROM "sessions" WHERE "id" = ? RETURNING "id""#),
            Some("sessions")
        );
        assert_eq!(written_table(r#"SELECT "id" FROM "accounts""#), None);
        assert_eq!(written_table("UPDATE accounts SET x = 1"), None);
    }

    #[test]
    fn a_value_of_another_type_is_an_error_not_a_null() {
        assert!(Kind::Int.decode(ValueRef::Text(b"7")).is_err());
        assert!(Kind::Int.decode(ValueRef::Integer(i64::MAX)).is_err());
        assert_eq!(
            Kind::Bool.decode(ValueRef::Integer(1)),
            Ok(Value::Bool(Some(true)))
        );
        assert_eq!(
            Kind::Time.decode(ValueRef::Null),
            Ok(Value::TimeDateTimeWithTimeZone(None))
        );
    }

    async fn file_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/careid.db?mode=rwc", dir.path().display());
        crate::migrate(&url).await.unwrap();
        let db = crate::connect(&url, 2).await.unwrap();
        (dir, db)
    }

    /// An account with every optional column set, so that a column decoded as the wrong
    /// type (which sea-orm would read as `None`) shows.
    async fn full_account(db: &Db) -> AccountId {
        let at = datetime!(2026-12-01 13:40:05.5 UTC);
        let account = accounts::entity::ActiveModel {
            email: Set("ada@example.org".into()),
            password_hash: Set(Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into())),
            status: Set("active".into()),
            invitation_state: Set("accepted".into()),
            activity_at: Set(at),
            failed_attempts: Set(3),
            lockouts: Set(2),
            locked_until: Set(Some(at + time::Duration::minutes(15))),
            disabled_at: Set(Some(at)),
            expired_at: Set(Some(at)),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(db.writer())
        .await
        .unwrap();
        let new = profiles::NewProfile {
            account_id: account.id,
            subject: "sub-ada".into(),
            kind: "self".into(),
            name: "Ada Okafor".into(),
            email: Some("ada@example.org".into()),
            birthdate: Some("1990-04-01".into()),
        };
        profiles::insert_profile(db.writer(), new, at)
            .await
            .unwrap();
        account.id
    }

    #[tokio::test]
    async fn rows_read_here_equal_the_rows_sqlx_reads() {
        let (_dir, db) = file_db().await;
        let id = full_account(&db).await;
        let inline = db.inline().expect("a SQLite file reads inline");

        let here = accounts::entity::Entity::find().all(&db).await.unwrap();
        let there = accounts::entity::Entity::find()
            .all(db.reader())
            .await
            .unwrap();
        assert_eq!(here, there);
        assert!(here[0].locked_until.is_some() && here[0].failed_attempts == 3);

        // A join, as the userinfo query makes it.
        let key = profiles::ProfileKey::Subject("sub-ada");
        let joined = profiles::find_with_account(&db, key).await.unwrap();
        let (profile, account) = joined.expect("Ada and her profile");
        assert_eq!(account, there[0]);
        assert_eq!(profile.birthdate.as_deref(), Some("1990-04-01"));
        assert!(profile.given_name.is_some());

        // Instants bound as parameters compare as sqlx's do.
        let at = here[0].activity_at;
        for (bound, expected) in [(at - time::Duration::seconds(1), 1), (at, 0)] {
            let query = accounts::entity::Entity::find()
                .filter(accounts::entity::Column::ActivityAt.gt(bound));
            assert_eq!(query.clone().count(&db).await.unwrap(), expected);
            assert_eq!(query.count(db.reader()).await.unwrap(), expected);
        }
        let (decoded, left) = inline.plan_counts();
        assert!(decoded >= 3, "{decoded} statements decoded here");
        assert_eq!(left, 0);
        assert_eq!(
            accounts::find_by_id(&db, id).await.unwrap().unwrap(),
            there[0]
        );
    }

    #[tokio::test]
    async fn a_statement_is_prepared_once_whatever_its_values() {
        let (_dir, db) = file_db().await;
        full_account(&db).await;
        let key = profiles::ProfileKey::Subject("sub-ada");
        for jti in ["jti-1", "jti-2", "jti-3"] {
            let found = profiles::find_with_account_unless_revoked(&db, key, jti, Some("g"))
                .await
                .unwrap();
            assert!(found.is_some());
        }
        // The userinfo query, as the store builds it for one of those calls.
        let sql = profiles::bearer_statement(DbBackend::Sqlite, key, "jti-1", Some("g")).sql;
        let (runs, reprepares) = db.inline().unwrap().runs_and_reprepares(&sql);
        assert_eq!(runs, 3, "the three calls ran this statement: {sql}");
        assert_eq!(reprepares, 0);
    }

    #[tokio::test]
    async fn a_column_of_unknown_type_goes_to_sqlx() {
        let (_dir, db) = file_db().await;
        full_account(&db).await;
        let stmt = Statement::from_string(
            DbBackend::Sqlite,
            "SELECT MAX(activity_at) AS latest FROM accounts",
        );
        let row = db.query_one_raw(stmt).await.unwrap().unwrap();
        assert!(row.try_get::<OffsetDateTime>("", "latest").is_ok());
        assert_eq!(db.inline().unwrap().plan_counts().1, 1);
    }
}
