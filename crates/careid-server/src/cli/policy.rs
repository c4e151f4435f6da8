//! `careid policy check`: reads a password from stdin and says which rules it fails,
//! for support staff and scripts.

use std::{io::Read, path::Path};

use careid_policy::{PlainPassword, password};
use clap::Subcommand;

/// `careid policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check the password on standard input against the configured rules.
    Check {
        /// The account's email, for the rule against passwords containing its name.
        #[arg(long, default_value = "")]
        email: String,
    },
}

/// Prints each failed rule; the process exits non-zero if any failed.
pub fn run(config_path: &Path, command: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Check { email } = command;
    let config = super::load(config_path)?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let password = PlainPassword::new(input.trim_end_matches(['\r', '\n']));
    let violations = password::check(&config.policy.password, &password, &password, &email);
    if violations.is_empty() {
        println!("the password meets every rule");
        return Ok(());
    }
    for violation in &violations {
        println!("- {}", violation.message());
    }
    // main turns the error into a non-zero exit status.
    anyhow::bail!("{} rule(s) failed", violations.len())
}
