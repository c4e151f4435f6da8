//! `careid accounts …`: work over every account.

use std::path::Path;

use clap::Subcommand;

/// `careid accounts …`.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Expire every active account idle past the inactivity limit (the server does
    /// this every 15 minutes; this runs it once, now).
    Sweep,
}

/// Runs an `accounts` subcommand.
pub async fn run(config_path: &Path, command: AccountsCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let accounts = super::open_accounts(&config).await?;
    match command {
        AccountsCommand::Sweep => {
            let count = accounts.sweep_inactive().await?;
            println!(
                "{count} account(s) expired after {} days without a sign-in",
                config.policy.inactivity_expiry_days
            );
        }
    }
    Ok(())
}
