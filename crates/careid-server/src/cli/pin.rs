//! `careid pin …`: staff issue and void sign-in PINs for the client portal. The rules
//! (lifetime bound, single use, attempts, a newer PIN voiding the older) are
//! `careid_accounts::Lifecycle`'s; this prints.

use std::path::Path;

use anyhow::bail;
use careid_accounts::{AccountsError, parse_lifetime};
use careid_store::ClientId;
use clap::Subcommand;

/// `careid pin …`.
#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Issue a 6-digit sign-in PIN for an account and print it once; any older PIN of the
    /// account stops working.
    Issue {
        /// The account's email.
        email: String,
        /// How long the PIN works: a number and m, h or d (default
        /// `lifecycle.pin_minutes`, at most `lifecycle.pin_max_minutes`).
        #[arg(long)]
        expires: Option<String>,
        /// The portal the PIN is for (e.g. `client-portal`), for the audit trail.
        #[arg(long)]
        client: Option<String>,
    },
    /// Void the account's PIN now.
    Void {
        /// The account's email.
        email: String,
    },
}

/// Runs a `pin` subcommand.
pub async fn run(config_path: &Path, command: PinCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let lifecycle = super::user::open_lifecycle(&config, None).await?.0;
    match command {
        PinCommand::Issue {
            email,
            expires,
            client,
        } => {
            let lifetime = match expires.as_deref() {
                None => None,
                Some(text) => match parse_lifetime(text) {
                    Some(lifetime) => Some(lifetime),
                    None => {
                        bail!("--expires {text:?}: give a whole number and m, h or d, such as 30m")
                    }
                },
            };
            let issued = lifecycle
                .issue_pin(&email, lifetime, client.map(ClientId::new).as_ref())
                .await
                .map_err(explain)?;
            println!("{}", issued.pin.as_str());
            println!(
                "PIN for {email}, valid until {} (once; tell it to the person, it is not shown again)",
                super::timestamp(issued.expires_at)
            );
        }
        PinCommand::Void { email } => {
            if lifecycle.void_pin(&email).await.map_err(explain)? {
                println!("the PIN of {email} is void");
            } else {
                println!("{email} had no PIN that still worked");
            }
        }
    }
    Ok(())
}

/// Turns an account error into a sentence for staff.
fn explain(err: AccountsError) -> anyhow::Error {
    match err {
        AccountsError::PinLifetimeOutOfRange { max_minutes } => anyhow::anyhow!(
            "a PIN may work from 1 minute to {max_minutes} minutes (lifecycle.pin_max_minutes)"
        ),
        AccountsError::UnknownAccount => anyhow::anyhow!("no account has this email"),
        AccountsError::WrongStatus(status) => anyhow::anyhow!(
            "the account is {}: reactivate or enable it first",
            status.as_str()
        ),
        err => err.into(),
    }
}
