//! `careid session …`: an account's open careid sessions, listed and ended from the
//! command line. The same `careid_accounts::Accounts` functions as the admin API's
//! `/accounts/{id}/sessions` run here, so an ending tells the session's clients by
//! back-channel logout either way.

use std::path::Path;

use careid_accounts::AccountsError;
use clap::Subcommand;

/// `careid session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List an account's open sessions, oldest first.
    List {
        /// The account's email.
        email: String,
    },
    /// End one open session of an account (its id from `careid session list`), or all
    /// of them with `--all`; the clients signed in through them are told.
    End {
        /// The account's email.
        email: String,
        /// The session's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        session_id: Option<i64>,
        /// End every open session of the account (and its offline refresh tokens).
        #[arg(long)]
        all: bool,
    },
}

/// Runs a `session` subcommand.
pub async fn run(config_path: &Path, command: SessionCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let accounts = super::open_accounts(&config).await?;
    match command {
        SessionCommand::List { email } => {
            let account = accounts.account_by_email(&email).await.map_err(explain)?;
            let sessions = accounts.open_sessions(account.id).await.map_err(explain)?;
            println!(
                "{:<8} {:<26} {:<26} {:<10} AMR",
                "ID", "AUTHENTICATED", "LAST SEEN", "PROFILE"
            );
            for session in sessions {
                println!(
                    "{:<8} {:<26} {:<26} {:<10} {}",
                    session.id,
                    super::timestamp(session.auth_time),
                    super::timestamp(session.last_seen_at),
                    session
                        .profile_id
                        .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                    session.amr().join(" ")
                );
            }
        }
        SessionCommand::End {
            email,
            session_id,
            all,
        } => {
            let account = accounts.account_by_email(&email).await.map_err(explain)?;
            match session_id {
                Some(id) if !all => {
                    let ended = accounts
                        .end_account_session(account.id, id, None)
                        .await
                        .map_err(explain)?;
                    if ended {
                        println!("ended session {id} of {email}");
                    } else {
                        println!("session {id} of {email} had ended already");
                    }
                }
                _ => {
                    let ended = accounts
                        .end_all_sessions(account.id, None)
                        .await
                        .map_err(explain)?;
                    println!("ended {ended} session(s) of {email}");
                }
            }
        }
    }
    Ok(())
}

/// Turns an account error into a sentence for staff.
fn explain(err: AccountsError) -> anyhow::Error {
    match err {
        AccountsError::UnknownAccount => anyhow::anyhow!("no account has this email"),
        AccountsError::UnknownSession => {
            anyhow::anyhow!("this account has no session with that id (see `careid session list`)")
        }
        err => err.into(),
    }
}
