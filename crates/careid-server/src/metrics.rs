//! Prometheus metrics: the recorder behind the `metrics` facade the libraries count
//! with, served as text at `GET /metrics` (on the main listener, or on
//! `[metrics] listen` alone), and the gauges sampled here rather than counted where
//! they change (database pools). Every series starts `careid_`; docs/monitoring.md
//! lists them.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use careid_store::Db;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tokio::sync::watch;

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// An address of its own for `GET /metrics` (e.g. `127.0.0.1:9464`), so it need not
    /// be reachable where careid's pages are. Unset: served beside them.
    pub listen: Option<String>,
}

/// Latency buckets in seconds: from a cached JWKS answer (sub-millisecond) to a sign-in
/// waiting for a hashing slot (seconds).
const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often the histograms' windows are trimmed and the pool gauges sampled.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder (the `metrics` facade has one per process), once,
/// by `careid serve`. Without it every count is a no-op, as in the in-process tests.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)?
        .install_recorder()?)
}

/// `GET /metrics`.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Arc::new(handle))
}

async fn render(State(handle): State<Arc<PrometheusHandle>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}

/// Trims the histograms and samples the database pools every [`UPKEEP`] until `stop`
/// changes.
pub async fn upkeep(handle: PrometheusHandle, db: Db, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(UPKEEP);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                handle.run_upkeep();
                sample_pools(&db);
            }
            _ = stop.changed() => return,
        }
    }
}

fn sample_pools(db: &Db) {
    let (readers, writer) = careid_store::health::pool_use(db);
    for (pool, usage) in [("reader", readers), ("writer", writer)] {
        metrics::gauge!("careid_db_connections", "pool" => pool, "state" => "open")
            .set(f64::from(usage.open));
        metrics::gauge!("careid_db_connections", "pool" => pool, "state" => "idle")
            .set(f64::from(usage.idle));
    }
}
