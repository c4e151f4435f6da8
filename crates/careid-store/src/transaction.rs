//! A transaction on careid's writer, whichever connection that is.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use crate::inline_writer::InlineTx;

/// A transaction begun by [`crate::Db::begin`]: on a SQLite file it runs on the inline
/// writer, elsewhere (PostgreSQL, an in-memory database) on sqlx's. Every store
/// function takes it as a `&impl ConnectionTrait`; dropping it without
/// [`Tx::commit`] rolls it back.
#[derive(Debug)]
pub struct Tx(Inner);

#[derive(Debug)]
enum Inner {
    Pool(DatabaseTransaction),
    Inline(InlineTx),
}

impl Tx {
    pub(crate) fn pool(txn: DatabaseTransaction) -> Self {
        Self(Inner::Pool(txn))
    }

    pub(crate) fn inline(txn: InlineTx) -> Self {
        Self(Inner::Inline(txn))
    }

    /// Makes the transaction's writes permanent.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self.0 {
            Inner::Pool(txn) => txn.commit().await,
            Inner::Inline(txn) => txn.commit(),
        }
    }

    /// Undoes the transaction's writes now rather than when it is dropped.
    pub async fn rollback(self) -> Result<(), DbErr> {
        match self.0 {
            Inner::Pool(txn) => txn.rollback().await,
            Inner::Inline(txn) => txn.rollback(),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Inner::Pool(txn) => txn.get_database_backend(),
            Inner::Inline(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.0 {
            Inner::Pool(txn) => txn.execute_raw(stmt).await,
            Inner::Inline(txn) => txn.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.0 {
            Inner::Pool(txn) => txn.execute_unprepared(sql).await,
            Inner::Inline(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.0 {
            Inner::Pool(txn) => txn.query_one_raw(stmt).await,
            Inner::Inline(txn) => Ok(txn.query(stmt).await?.into_iter().next()),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.0 {
            Inner::Pool(txn) => txn.query_all_raw(stmt).await,
            Inner::Inline(txn) => txn.query(stmt).await,
        }
    }
}
