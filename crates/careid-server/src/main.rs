//! The `careid` binary: parses the command line, sets up logging, runs the command.

use careid_server::cli::{Cli, Command};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server logs what it does; one-off commands print their answer and log only
    // warnings, unless CAREID_LOG says otherwise.
    let default = if matches!(cli.command, Command::Serve | Command::Demo) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CAREID_LOG").unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    cli.run().await
}
