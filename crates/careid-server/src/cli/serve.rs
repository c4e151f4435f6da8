//! `careid serve`.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use careid_store::SystemClock;
use tokio::{net::TcpListener, sync::watch};

use crate::{App, demo, jobs, metrics, startup};

/// Builds the app, prints the demo credentials on first start, serves until SIGTERM or
/// SIGINT, then lets the requests in flight finish (for at most
/// `shutdown_grace_seconds`) and stops the background jobs.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let handle = metrics::install().context("installing the metrics recorder")?;
    let mut app = App::build(&config, Arc::new(SystemClock)).await?;
    if config.demo
        && let Some(password) = demo::ensure_account(&app.accounts).await?
    {
        // Printed once: the database keeps only the hash.
        println!();
        println!("  Demo account created. Sign in with:");
        println!("    email:    {}", demo::DEMO_EMAIL);
        println!("    password: {}", password.as_str());
        println!("  This password is shown only now.");
        println!();
    }
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = vec![
        tokio::spawn(jobs::run(app.accounts.clone(), stop_rx.clone())),
        tokio::spawn(metrics::upkeep(
            handle.clone(),
            app.db.clone(),
            stop_rx.clone(),
        )),
    ];
    background.extend(app.watch(stop_rx.clone()));
    // The demo relying parties beside careid, for the README's walk-through.
    if config.demo {
        background.extend(super::demo::start(&config, stop_rx.clone(), false).await?);
    }
    match &config.metrics.listen {
        Some(address) => {
            let metrics_listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on [metrics] listen = {address}"))?;
            tracing::info!(listen = %address, "metrics are served on their own address");
            let mut stop = stop_rx.clone();
            background.push(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.changed().await;
                };
                let served = axum::serve(metrics_listener, metrics::router(handle))
                    .with_graceful_shutdown(stopped)
                    .await;
                if let Err(err) = served {
                    tracing::error!(%err, "the metrics listener failed");
                }
            }));
        }
        None => app.router = app.router.merge(metrics::router(handle)),
    }
    startup::summarize(config_path, &config, app.protocol.clients.snapshot().len());
    tracing::info!(issuer = %config.issuer, listen = %config.listen, "careid is serving");

    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let (begun, has_begun) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        let signal = startup::signal().await;
        tracing::info!(
            signal,
            grace_seconds = grace.as_secs(),
            "shutting down: finishing the requests in flight"
        );
        let _ = begun.send(());
    };
    let serving = app.serve(listener, shutdown);
    tokio::select! {
        served = serving => served?,
        () = async {
            if has_begun.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!(
            grace_seconds = grace.as_secs(),
            "requests still in flight after the grace period: stopping without them"
        ),
    }
    let _ = stop_tx.send(true);
    for task in background {
        let _ = task.await;
    }
    tracing::info!("careid stopped");
    Ok(())
}
