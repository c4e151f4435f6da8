//! `GET /healthz` (the process answers: no I/O, for liveness probes and Docker's
//! `HEALTHCHECK`) and `GET /readyz` (this instance can serve: the database answers with
//! the schema this build expects, the signing keys are loaded, and an SQLite file is
//! still where the configuration says). A load balancer sends traffic only on 200.

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use careid_protocol::Protocol;
use careid_store::Db;
use serde::Serialize;

/// How long `/readyz` waits for the database: a probe must answer even when the pool
/// is exhausted.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// What `/readyz` checks.
pub struct Readiness {
    db: Db,
    protocol: Arc<Protocol>,
    /// The SQLite file, if the database is one. Open connections keep a deleted or
    /// moved file alive, so a query alone would not notice that the next start (or a
    /// backup of the path) finds another database, or none.
    sqlite_file: Option<PathBuf>,
}

impl Readiness {
    /// Checks `db` and `protocol`'s keys; `database_url` says whether there is a file
    /// to look for.
    pub fn new(db: Db, protocol: Arc<Protocol>, database_url: &str) -> Self {
        Self {
            db,
            protocol,
            sqlite_file: careid_store::sqlite_file(database_url),
        }
    }

    /// `None` when ready, else why not.
    async fn problem(&self) -> Option<String> {
        // tokio's stat runs off the async threads: it is file I/O.
        if let Some(path) = &self.sqlite_file
            && !tokio::fs::metadata(path)
                .await
                .is_ok_and(|meta| meta.is_file())
        {
            return Some(format!("the database file {} is missing", path.display()));
        }
        let schema = careid_store::health::schema_state(&self.db);
        match tokio::time::timeout(DATABASE_WAIT, schema).await {
            Err(_) => return Some("the database did not answer in time".into()),
            Ok(Err(err)) => return Some(format!("the database did not answer: {err}")),
            Ok(Ok(schema)) if !schema.pending.is_empty() => {
                return Some(format!(
                    "migrations not applied: {}",
                    schema.pending.join(", ")
                ));
            }
            Ok(Ok(schema)) if !schema.unknown.is_empty() => {
                return Some(format!(
                    "the database has migrations this version does not know (a newer careid migrated it): {}",
                    schema.unknown.join(", ")
                ));
            }
            Ok(Ok(_)) => {}
        }
        if self.protocol.keys.kids().is_empty() {
            return Some("no signing keys loaded".into());
        }
        None
    }
}

/// The two probe routes.
pub fn router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
        .with_state(readiness)
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

async fn alive() -> Response {
    answer(StatusCode::OK, "ok", None)
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    match readiness.problem().await {
        None => answer(StatusCode::OK, "ready", None),
        Some(reason) => {
            tracing::warn!(%reason, "not ready");
            answer(StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(reason))
        }
    }
}

fn answer(status: StatusCode, word: &'static str, reason: Option<String>) -> Response {
    let body = Json(Status {
        status: word,
        reason,
    });
    (status, [(header::CACHE_CONTROL, "no-store")], body).into_response()
}
