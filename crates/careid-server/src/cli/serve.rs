//! `careid serve`.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use careid_store::SystemClock;
use tokio::{net::TcpListener, sync::watch};

use crate::{App, demo, jobs};

/// Builds the app, prints the demo credentials on first start, serves until Ctrl-C.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
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
    tracing::info!(issuer = %config.issuer, listen = %config.listen, "careid is serving");

    let (stop_tx, stop_rx) = watch::channel(false);
    let jobs = tokio::spawn(jobs::run(app.accounts.clone(), stop_rx.clone()));
    // The demo relying parties beside careid, for the README's walk-through.
    let demos = if config.demo {
        super::demo::start(&config, stop_rx.clone(), false).await?
    } else {
        Vec::new()
    };
    let watchers = app.watch(stop_rx);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    app.serve(listener, shutdown).await?;
    let _ = stop_tx.send(true);
    let _ = jobs.await;
    for watcher in watchers.into_iter().chain(demos) {
        let _ = watcher.await;
    }
    Ok(())
}
