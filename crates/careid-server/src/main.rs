//! The `careid` binary: parses the command line, sets up logging, runs the command.

use careid_server::{
    cli::{Cli, Command},
    logging,
};
use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

/// mimalloc rather than glibc's malloc: a token request allocates and frees many small
/// values on whichever worker thread runs it, and glibc's arenas spent a sixth of
/// userinfo's CPU on that (docs/performance.md, "The allocator"). Built without
/// transparent huge pages (`no_thp`): with them an idle server held 18 MiB more.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    // A file named with --config or CAREID_CONFIG must exist: running on built-in
    // defaults because of a typo would serve the wrong issuer and database. The default
    // path may be missing (every key then comes from defaults and the environment).
    let is_named = matches
        .value_source("config")
        .is_some_and(|source| source != ValueSource::DefaultValue);
    if is_named && !cli.config.is_file() {
        anyhow::bail!("configuration file {} not found", cli.config.display());
    }
    // The server logs what it does; one-off commands print their answer and log only
    // warnings, unless CAREID_LOG says otherwise. Only `log.format` is read here: the
    // command loads (and checks) the whole configuration itself, and reports it if it
    // does not load. Without a readable `log.format` the format is text.
    let default = if matches!(cli.command, Command::Serve | Command::Demo) {
        "info"
    } else {
        "warn"
    };
    let format = careid_server::Config::figment(&cli.config)
        .extract_inner::<logging::LogFormat>("log.format")
        .unwrap_or_default();
    let _log = logging::init(format, default);
    cli.run().await
}
