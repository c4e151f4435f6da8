//! `careid audit list`: the audit trail, newest first.

use std::path::Path;

use anyhow::{Context, bail};
use careid_store::{accounts, audit};
use clap::Subcommand;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// `careid audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List events, newest first.
    List {
        /// Only this account's events.
        #[arg(long)]
        account: Option<String>,
        /// Only events at or after this instant (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

/// Runs an `audit` subcommand.
pub async fn run(config_path: &Path, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List {
        account,
        since,
        limit,
    } = command;
    let config = super::load(config_path)?;
    let accounts = super::open_accounts(&config).await?;
    let db = &accounts.db;
    let account_id = match &account {
        None => None,
        Some(email) => match accounts::find_by_email(db, email).await? {
            Some(found) => Some(found.id),
            None => bail!("no account has the email {email}"),
        },
    };
    let since = since
        .map(|s| {
            OffsetDateTime::parse(&s, &Rfc3339)
                .with_context(|| format!("--since {s:?} is not RFC 3339"))
        })
        .transpose()?;
    for event in audit::find_events(db, account_id, since, limit).await? {
        let at = event.at.format(&Rfc3339).unwrap_or_default();
        let who = event
            .account_id
            .map(|id| format!("account {id}"))
            .unwrap_or_else(|| "-".into());
        let client = event.client_id.as_deref().unwrap_or("-");
        let ip = event.ip.as_deref().unwrap_or("-");
        println!(
            "{at}  {:<22} {who:<12} client={client} ip={ip} {}",
            event.kind, event.detail
        );
    }
    Ok(())
}
