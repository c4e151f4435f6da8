//! `careid user …`: account administration from the command line.

use std::{
    io::{BufRead, IsTerminal},
    path::Path,
};

use anyhow::bail;
use careid_accounts::AccountsError;
use careid_policy::PlainPassword;
use clap::Subcommand;

/// `careid user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active account with a password (asked twice, or read from stdin).
    Add {
        /// The person's email; it is also their username.
        email: String,
        /// The person's name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Disable an account: it cannot sign in, its sessions and refresh tokens end now.
    Disable {
        /// The account's email.
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The account's email.
        email: String,
    },
    /// Reactivate an account that expired for inactivity; its 90 days start again.
    Reactivate {
        /// The account's email.
        email: String,
    },
}

/// Runs a `user` subcommand.
pub async fn run(config_path: &Path, command: UserCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    if let UserCommand::Add { email, name } = &command {
        // Ask before touching the database, so a typo costs nothing.
        let (password, confirmation) = read_password()?;
        let accounts = super::open_accounts(&config).await?;
        return match accounts
            .create_account(email, name, password, confirmation)
            .await
        {
            Ok(account) => {
                println!("created {} (account {})", account.email, account.id);
                Ok(())
            }
            Err(err) => Err(explain(err)),
        };
    }
    let accounts = super::open_accounts(&config).await?;
    let (outcome, done) = match &command {
        UserCommand::Add { .. } => unreachable!("handled above"),
        UserCommand::Disable { email } => (accounts.disable(email).await, "disabled"),
        UserCommand::Enable { email } => (accounts.enable(email).await, "enabled"),
        UserCommand::Reactivate { email } => (accounts.reactivate(email).await, "reactivated"),
    };
    let account = outcome.map_err(explain)?;
    println!("{} {done}", account.email);
    Ok(())
}

/// Turns an account error into a sentence for the operator.
fn explain(err: AccountsError) -> anyhow::Error {
    match err {
        AccountsError::PasswordRejected(violations) => {
            for violation in &violations {
                eprintln!("- {}", violation.message());
            }
            anyhow::anyhow!("the password does not meet the rules")
        }
        AccountsError::EmailTaken => anyhow::anyhow!("an account with this email exists already"),
        AccountsError::UnknownAccount => anyhow::anyhow!("no account has this email"),
        AccountsError::WrongStatus(status) => {
            anyhow::anyhow!(
                "this does not apply to an account that is {}",
                status.as_str()
            )
        }
        err => err.into(),
    }
}

/// Asks twice on a terminal; reads one line (used as both entries) from a pipe.
fn read_password() -> anyhow::Result<(PlainPassword, PlainPassword)> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        Ok((PlainPassword::new(first), PlainPassword::new(second)))
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.is_empty() {
            bail!("no password on standard input");
        }
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        Ok((
            PlainPassword::new(password.clone()),
            PlainPassword::new(password),
        ))
    }
}
