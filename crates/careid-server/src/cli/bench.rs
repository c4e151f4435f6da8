//! `careid bench …` and `careid seed`: load a running careid, measure this machine's
//! bounds, fill a database with accounts to sign in as. The work is `careid-bench`'s;
//! this module parses arguments and prints JSON.

use std::{path::Path, time::Duration};

use anyhow::{Context, bail};
use careid_bench::{BenchOptions, BoundsOptions, Report, Scenario, SeedOptions};
use careid_policy::PlainPassword;
use careid_store::{Clock, SystemClock};
use clap::{Args, Subcommand};
use serde::Serialize;

/// `careid bench [SCENARIO…]` or `careid bench bounds`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// `careid bench bounds`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Measure this machine's limits: argon2id hashes/s with the configured parameters
    /// (one core, all cores), RS256/ES256/EdDSA signatures/s, SQLite commits/s.
    Bounds {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Threads for the all-cores figures (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Also write the JSON to this file.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

/// The load run's options.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Scenarios to run, in order: discovery jwks client_credentials code_flow
    /// sso_code_flow refresh userinfo introspect, or all (the default).
    pub scenarios: Vec<String>,
    /// careid's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Concurrent workers; worker n signs in as <prefix><n>@careid.local.
    #[arg(long, short = 'c', default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// The server's pid: report its memory and CPU time from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// The start of the bench accounts' emails (as given to `careid seed`).
    #[arg(long, default_value = careid_bench::DEFAULT_PREFIX)]
    pub prefix: String,
    /// The bench accounts' password (as given to `careid seed`).
    #[arg(long, default_value = careid_bench::DEFAULT_PASSWORD)]
    pub password: String,
    /// The client to play: a confidential client with the code, refresh and
    /// client-credentials grants.
    #[arg(long, default_value = "crm")]
    pub client_id: String,
    /// Its secret.
    #[arg(long, default_value = "crm-demo-secret")]
    pub client_secret: String,
    /// One of its registered redirect URIs (never called).
    #[arg(long, default_value = "http://127.0.0.1:8081/callback")]
    pub redirect_uri: String,
    /// Also write the JSON to this file.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

/// `careid seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many accounts: <prefix>1@careid.local to <prefix>N@careid.local.
    #[arg(long)]
    pub accounts: u64,
    /// Every account's password; it must pass the configured password rules.
    #[arg(long, default_value = careid_bench::DEFAULT_PASSWORD)]
    pub password: String,
    /// The start of every email.
    #[arg(long, default_value = careid_bench::DEFAULT_PREFIX)]
    pub prefix: String,
}

/// Runs `careid bench …`.
pub async fn run(config_path: &Path, args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        Some(BenchCommand::Bounds {
            seconds,
            threads,
            output,
        }) => {
            let config = super::load(config_path)?;
            eprintln!("measuring bounds, {seconds} s per figure…");
            let report = careid_bench::measure_bounds(&BoundsOptions {
                duration: duration(seconds)?,
                hash: config.policy.hash,
                threads,
                scratch_dir: None,
            })
            .await?;
            emit(&report, output.as_deref())
        }
        None => load(args.load).await,
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let mut options = BenchOptions::new(&args.url);
    options.scenarios = Scenario::parse_list(&args.scenarios)?;
    options.concurrency = args.concurrency.max(1);
    options.duration = duration(args.seconds)?;
    options.pid = args.pid;
    options.prefix = args.prefix;
    options.password = args.password;
    options.client_id = args.client_id;
    options.client_secret = args.client_secret;
    options.redirect_uri = args.redirect_uri;
    eprintln!(
        "{} scenario(s) against {}, {} workers, {} s each",
        options.scenarios.len(),
        options.url,
        options.concurrency,
        args.seconds
    );
    let report = careid_bench::run(&options).await?;
    summarise(&report);
    emit(&report, args.output.as_deref())
}

/// One line per scenario on stderr, for a person watching; the JSON is on stdout.
fn summarise(report: &Report) {
    if let (Some(before), Some(after)) = (report.load_average_before, report.load_average_after) {
        eprintln!(
            "machine load average (1 min) {:.2} before, {:.2} after: other work on the cores skews every figure",
            before[0], after[0]
        );
    }
    for s in &report.scenarios {
        let p99 = s.latency.map_or(0.0, |l| l.p99_ms);
        eprintln!(
            "{:<20} {:>10.1} ops/s  p99 {:>8.2} ms  {} ok  {} errors",
            s.scenario.name(),
            s.ops_per_sec,
            p99,
            s.ok,
            s.errors
        );
    }
}

/// Runs `careid seed`.
pub async fn seed(config_path: &Path, args: SeedArgs) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    careid_store::migrate(&config.database_url).await?;
    let db = careid_store::connect(&config.database_url, 1).await?;
    let report = careid_bench::seed(
        db.writer(),
        &SeedOptions {
            accounts: args.accounts,
            prefix: args.prefix.clone(),
            password: PlainPassword::new(args.password),
            rules: config.policy.password.clone(),
            hash: config.policy.hash,
        },
        SystemClock.now(),
    )
    .await
    .with_context(|| format!("seeding {}", crate::redact(&config.database_url)))?;
    println!(
        "created {} accounts ({} existed already) in {:.1} s: {}1@{} … {}{}@{}",
        report.created,
        report.existing,
        report.seconds,
        args.prefix,
        careid_bench::EMAIL_DOMAIN,
        args.prefix,
        args.accounts,
        careid_bench::EMAIL_DOMAIN
    );
    Ok(())
}

fn duration(seconds: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => bail!("--seconds must be a positive number, not {seconds}"),
    }
}

/// Prints the report as JSON and writes it to `output` too, if given.
fn emit(report: &impl Serialize, output: Option<&Path>) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    println!("{json}");
    if let Some(path) = output {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        }
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
