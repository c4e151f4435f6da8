//! `careid audit list`: the audit trail, newest first; `careid audit export`: the trail
//! as JSON Lines for a SIEM, oldest first.

use std::{io::Write, path::Path};

use anyhow::{Context, bail};
use careid_store::{AccountId, ClientId, accounts, audit};
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
    /// Write events as JSON Lines (one object per line, oldest first) for a SIEM.
    Export {
        /// Events at or after this instant (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        since: String,
        /// Only events before this instant (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

/// `careid audit export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines: one JSON object per event and line.
    Jsonl,
}

/// Events read per query while exporting.
const EXPORT_PAGE: u64 = 1000;

/// One exported event. The field names are an interface (SIEM parsers rely on them):
/// add fields, never rename or remove one.
#[derive(Debug, serde::Serialize)]
struct ExportedEvent<'a> {
    id: i64,
    /// RFC 3339, UTC.
    at: String,
    kind: &'a str,
    account_id: Option<AccountId>,
    client_id: Option<&'a ClientId>,
    ip: Option<&'a str>,
    /// The event's details as a JSON object (never a secret).
    detail: serde_json::Value,
}

/// Writes the events at or after `since` and before `until` to `out` as JSON Lines,
/// oldest first, a page at a time; returns how many were written.
pub async fn export(
    db: &careid_store::Db,
    since: OffsetDateTime,
    until: Option<OffsetDateTime>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut after_id = 0;
    let mut written = 0;
    loop {
        let page = audit::find_page(db, since, until, after_id, EXPORT_PAGE).await?;
        for event in &page {
            let line = ExportedEvent {
                id: event.id,
                at: super::timestamp(event.at),
                kind: &event.kind,
                account_id: event.account_id,
                client_id: event.client_id.as_ref(),
                ip: event.ip.as_deref(),
                detail: serde_json::from_str(&event.detail)
                    .unwrap_or_else(|_| serde_json::Value::String(event.detail.clone())),
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() as u64 == EXPORT_PAGE => after_id = last.id,
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// An RFC 3339 command-line instant, naming the flag when it is not one.
fn instant(flag: &str, text: &str) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .with_context(|| format!("{flag} {text:?} is not RFC 3339 (e.g. 2026-11-01T00:00:00Z)"))
}

/// Runs an `audit` subcommand.
pub async fn run(config_path: &Path, command: AuditCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let (account, since, limit) = match command {
        AuditCommand::List {
            account,
            since,
            limit,
        } => (account, since, limit),
        AuditCommand::Export {
            since,
            until,
            format: ExportFormat::Jsonl,
            output,
        } => {
            let since = instant("--since", &since)?;
            let until = until.map(|u| instant("--until", &u)).transpose()?;
            let db = super::open_db(&config).await?;
            let written = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    export(&db, since, until, &mut std::io::BufWriter::new(file)).await?
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout());
                    export(&db, since, until, &mut out).await?
                }
            };
            eprintln!("{written} audit events exported");
            return Ok(());
        }
    };
    let accounts = super::open_accounts(&config).await?;
    let db = &accounts.db;
    let account_id = match &account {
        None => None,
        Some(email) => match accounts::find_by_email(db, email).await? {
            Some(found) => Some(found.id),
            None => bail!("no account has the email {email}"),
        },
    };
    let since = since.map(|s| instant("--since", &s)).transpose()?;
    for event in audit::find_events(db, account_id, since, limit).await? {
        let at = event.at.format(&Rfc3339).unwrap_or_default();
        let who = event
            .account_id
            .map(|id| format!("account {id}"))
            .unwrap_or_else(|| "-".into());
        let client = event.client_id.as_ref().map_or("-", ClientId::as_str);
        let ip = event.ip.as_deref().unwrap_or("-");
        println!(
            "{at}  {:<22} {who:<12} client={client} ip={ip} {}",
            event.kind, event.detail
        );
    }
    Ok(())
}
