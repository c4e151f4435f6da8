//! The `careid` command line: what each subcommand does lives in its own module.

mod config_check;
mod serve;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// careid: OpenID Connect for care portals.
#[derive(Debug, Parser)]
#[command(name = "careid", version, about)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "CAREID_CONFIG",
        default_value = "config/careid.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database and creates keys on first start).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

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
}

/// `careid config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate careid.toml, the environment and every client file.
    Check,
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve => serve::run(&self.config).await,
            Command::Migrate => {
                let config = load(&self.config)?;
                careid_store::migrate(&config.database_url).await?;
                println!(
                    "database is up to date: {}",
                    crate::redact(&config.database_url)
                );
                Ok(())
            }
            Command::User(UserCommand::Add { email, name }) => {
                user::add(&self.config, &email, &name).await
            }
            Command::Config(ConfigCommand::Check) => config_check::run(&self.config),
        }
    }
}

/// Loads the configuration, naming the file in the error.
pub(crate) fn load(path: &std::path::Path) -> anyhow::Result<crate::Config> {
    crate::Config::load(path).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}
