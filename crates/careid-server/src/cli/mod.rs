//! The `careid` command line. Each command group lives in its own module with its own
//! subcommand enum; this file only routes.

mod accounts;
pub mod audit;
pub mod backup;
mod bench;
mod client;
mod config_check;
pub mod demo;
pub mod keys;
mod pin;
mod policy;
mod profile;
pub mod registration;
mod serve;
mod session;
mod user;

use std::{path::PathBuf, sync::Arc};

use careid_accounts::Accounts;
use careid_store::SystemClock;
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
    /// Serve the demo CRM, EMR and client portal (ports from their client files).
    Demo,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Manage accounts one by one.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Work on all accounts at once.
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Issue and void sign-in PINs for the client portal.
    #[command(subcommand)]
    Pin(pin::PinCommand),
    /// List and end an account's open sessions.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Add, list, rename and remove an account's profiles.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Check passwords against the rules.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List clients and make client secrets.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Issue, list and revoke initial access tokens for dynamic registration.
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Load a running careid over HTTP and print JSON figures; `bench bounds` measures
    /// this machine's limits instead.
    Bench(bench::BenchArgs),
    /// Fill the configured database with active accounts to benchmark with.
    Seed(bench::SeedArgs),
    /// List, rotate and retire the signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Copy the SQLite database to a new file, consistently, while careid runs.
    Backup {
        /// The new file (it must not exist).
        path: PathBuf,
    },
    /// Put a backup in place as the configured SQLite database (careid stopped).
    Restore {
        /// The backup file.
        path: PathBuf,
        /// Replace an existing database (kept as `<file>.before-restore`).
        #[arg(long)]
        force: bool,
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
            Command::Demo => demo::run(&self.config).await,
            Command::Migrate => {
                let config = load(&self.config)?;
                careid_store::migrate(&config.database_url).await?;
                println!(
                    "database is up to date: {}",
                    crate::redact(&config.database_url)
                );
                Ok(())
            }
            Command::User(command) => user::run(&self.config, command).await,
            Command::Accounts(command) => accounts::run(&self.config, command).await,
            Command::Audit(command) => audit::run(&self.config, command).await,
            Command::Pin(command) => pin::run(&self.config, command).await,
            Command::Profile(command) => profile::run(&self.config, command).await,
            Command::Session(command) => session::run(&self.config, command).await,
            Command::Policy(command) => policy::run(&self.config, command),
            Command::Config(ConfigCommand::Check) => config_check::run(&self.config),
            Command::Client(command) => client::run(&self.config, command).await,
            Command::Registration(command) => registration::run(&self.config, command).await,
            Command::Bench(args) => bench::run(&self.config, args).await,
            Command::Seed(args) => bench::seed(&self.config, args).await,
            Command::Keys(command) => keys::run(&self.config, command).await,
            Command::Backup { path } => {
                backup::backup(&load(&self.config)?, &path).await?;
                println!("backed up to {}", path.display());
                Ok(())
            }
            Command::Restore { path, force } => {
                let target = backup::restore(&load(&self.config)?, &path, force).await?;
                println!("restored {} to {}", path.display(), target.display());
                Ok(())
            }
        }
    }
}

/// Loads the configuration, naming the file in the error.
pub(crate) fn load(path: &std::path::Path) -> anyhow::Result<crate::Config> {
    crate::Config::load(path).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

/// The account service over the configured database, for commands that run without
/// the server.
pub(crate) async fn open_accounts(config: &crate::Config) -> anyhow::Result<Accounts> {
    let db = open_db(config).await?;
    let totp_kek = config
        .keys
        .kek()?
        .map(|kek| kek.derive(crate::app::TOTP_PURPOSE));
    Ok(Accounts::new(db, Arc::new(SystemClock), config.accounts()).with_totp_kek(totp_kek))
}

/// The configured database, migrated, for commands that run without the server.
pub(crate) async fn open_db(config: &crate::Config) -> anyhow::Result<careid_store::Db> {
    careid_store::migrate(&config.database_url).await?;
    Ok(careid_store::connect(&config.database_url, 2).await?)
}

/// An instant as the CLI prints it: RFC 3339, whole seconds.
pub(crate) fn timestamp(at: time::OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
