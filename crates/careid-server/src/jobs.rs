//! Background jobs: the inactivity sweep, the clean-up of expired rows, the signing-key
//! watcher, the back-channel logout sender, the pruning of idle rate-limit keys and of
//! audit events past their retention.
//! Spawned by `serve`, stopped on shutdown.

use std::{sync::Arc, time::Duration};

use careid_accounts::Accounts;
use careid_protocol::Protocol;
use careid_store::{
    Db, StoreError, audit, authorization_requests, client_assertions, codes, passkey_ceremonies,
    revoked_access_tokens,
};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::AuditConfig;

/// How often the jobs run.
const PERIOD: Duration = Duration::from_secs(15 * 60);

/// How often an instance checks whether another one changed the signing keys.
const KEY_POLL: Duration = Duration::from_secs(1);

/// Reloads the signing keys (and the JWKS bytes) when another instance added or retired
/// one, checking every [`KEY_POLL`] until `stop` changes.
pub async fn watch_keys(protocol: Arc<Protocol>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(KEY_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => match protocol.reload_keys_if_changed().await {
                Ok(true) => tracing::info!("signing keys reloaded"),
                Ok(false) => {}
                Err(err) => tracing::error!(%err, "checking the signing keys failed"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// How often an instance looks for back-channel logouts to send. Deliveries are claimed
/// row by row, so every instance can look.
const LOGOUT_POLL: Duration = Duration::from_secs(1);

/// Sends the queued back-channel logouts (`careid_protocol::deliver_due`), checking every
/// [`LOGOUT_POLL`] until `stop` changes. Retries are due by the `Clock`, so the schedule
/// follows the clock the server was given.
pub async fn deliver_logouts(protocol: Arc<Protocol>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(LOGOUT_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => match careid_protocol::deliver_due(&protocol).await {
                Ok(counts) if counts == careid_protocol::DeliveryCounts::default() => {}
                Ok(counts) => {
                    count_deliveries(counts);
                    tracing::info!(
                        delivered = counts.delivered,
                        retrying = counts.retrying,
                        given_up = counts.given_up,
                        "back-channel logout pass"
                    );
                }
                Err(err) => tracing::error!(%err, "sending back-channel logouts failed"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// Adds a pass's outcomes to `careid_backchannel_logouts_total`.
fn count_deliveries(counts: careid_protocol::DeliveryCounts) {
    for (result, count) in [
        ("delivered", counts.delivered),
        ("retrying", counts.retrying),
        ("given_up", counts.given_up),
    ] {
        metrics::counter!("careid_backchannel_logouts_total", "result" => result)
            .increment(count as u64);
    }
}

/// How often the rate limiters forget keys whose state is as good as new.
const LIMIT_PRUNE: Duration = Duration::from_secs(10);

/// Keeps the rate limiters' memory bounded by what was used lately: every
/// [`LIMIT_PRUNE`], keys whose quota has fully come back are dropped (a key seen again
/// starts fresh, which is the same answer). Runs until `stop` changes.
pub async fn forget_idle_limits(protocol: Arc<Protocol>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(LIMIT_PRUNE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => protocol.rate_limits.forget_idle(),
            _ = stop.changed() => return,
        }
    }
}

/// Runs the jobs every [`PERIOD`] until `stop` changes.
pub async fn run(accounts: Arc<Accounts>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(PERIOD);
    loop {
        tokio::select! {
            _ = ticker.tick() => once(&accounts).await,
            _ = stop.changed() => return,
        }
    }
}

/// One round: expire idle accounts, forget what has expired.
pub async fn once(accounts: &Accounts) {
    match accounts.sweep_inactive().await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "accounts expired for inactivity"),
        Err(err) => tracing::error!(%err, "inactivity sweep failed"),
    }
    let now = accounts.clock.now();
    let db = &accounts.db;
    let cleaned = async {
        authorization_requests::delete_expired(db, now).await?;
        codes::delete_expired(db, now).await?;
        revoked_access_tokens::delete_expired(db, now).await?;
        client_assertions::delete_expired(db, now).await?;
        passkey_ceremonies::delete_expired(db, now).await?;
        Ok::<_, careid_store::StoreError>(())
    }
    .await;
    if let Err(err) = cleaned {
        tracing::error!(%err, "clean-up of expired rows failed");
    }
}

/// How often audit events past their retention are deleted.
const AUDIT_PRUNE: Duration = Duration::from_secs(60 * 60);

/// Audit events deleted per statement by [`prune_audit`].
pub const AUDIT_BATCH: u64 = 1000;

/// Deletes the audit events older than `[audit] retention_days` before `now`, `batch`
/// at a time (each batch its own short write, the runtime free in between), and says how
/// many went. Nothing is deleted without a retention. An event exactly `retention_days`
/// old is kept.
pub async fn prune_audit(
    db: &Db,
    now: OffsetDateTime,
    config: AuditConfig,
    batch: u64,
) -> Result<u64, StoreError> {
    let Some(days) = config.retention_days else {
        return Ok(0);
    };
    let before = now - time::Duration::days(i64::from(days.get()));
    let batch = batch.max(1);
    let mut total = 0;
    loop {
        let deleted = audit::delete_older_than(db, before, batch).await?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Runs [`prune_audit`] every [`AUDIT_PRUNE`] (and once at start) by the server's clock,
/// until `stop` changes.
pub async fn prune_audit_events(
    accounts: Arc<Accounts>,
    config: AuditConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(AUDIT_PRUNE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = accounts.clock.now();
                match prune_audit(&accounts.db, now, config, AUDIT_BATCH).await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "audit events past their retention deleted"),
                    Err(err) => tracing::error!(%err, "pruning the audit trail failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}
