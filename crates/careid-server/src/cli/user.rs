//! `careid user …`: account administration from the command line.

use std::{
    io::{BufRead, IsTerminal},
    path::Path,
    sync::Arc,
};

use anyhow::bail;
use careid_accounts::{Accounts, AccountsError};
use careid_policy::PlainPassword;
use careid_store::SystemClock;

/// `careid user add EMAIL [--name NAME]`.
pub async fn add(config_path: &Path, email: &str, name: &str) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let (password, confirmation) = read_password()?;
    careid_store::migrate(&config.database_url).await?;
    let db = careid_store::connect(&config.database_url, 2).await?;
    let accounts = Accounts::new(db, Arc::new(SystemClock), config.accounts());
    match accounts
        .create_account(email, name, password, confirmation)
        .await
    {
        Ok(account) => {
            println!("created {} (account {})", account.email, account.id);
            Ok(())
        }
        Err(AccountsError::PasswordRejected(violations)) => {
            for violation in &violations {
                eprintln!("- {}", violation.message());
            }
            bail!("the password does not meet the rules")
        }
        Err(AccountsError::EmailTaken) => bail!("an account with this email exists already"),
        Err(err) => Err(err.into()),
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
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        Ok((
            PlainPassword::new(password.clone()),
            PlainPassword::new(password),
        ))
    }
}
