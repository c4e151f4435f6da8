//! Running scenarios: N workers, each with its own connection pool and account, prepare
//! together, start together, and repeat their operation until the time is up. The
//! report gives throughput, latency percentiles, errors with samples, and the server's
//! memory and CPU before and after.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::{sync::Barrier, task::JoinSet};
use url::Url;

use crate::{
    BenchError, ProcessSample,
    browser::{Browser, ErrorSample, Person, Target},
    procfs,
    scenario::{self, Scenario},
    seed::account_email,
    stats::Latency,
};

/// Distinct error samples kept per scenario.
const MAX_SAMPLES: usize = 5;

/// What to run and against what.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// careid's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Concurrent workers.
    pub concurrency: usize,
    /// How long each scenario runs once its workers are ready.
    pub duration: Duration,
    /// The scenarios, in order.
    pub scenarios: Vec<Scenario>,
    /// Worker n (from 1) signs in as `<prefix><n>@careid.local` (see `careid seed`).
    pub prefix: String,
    /// The password of those accounts.
    pub password: String,
    /// The client the bench plays: id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Its redirect URI.
    pub redirect_uri: String,
    /// The scope code flows ask for.
    pub scope: String,
    /// The server's pid, to read its memory and CPU time from `/proc`.
    pub pid: Option<u32>,
}

impl BenchOptions {
    /// The defaults of `careid bench`: the demo `crm` client against a local careid.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            concurrency: 16,
            duration: Duration::from_secs(10),
            scenarios: Scenario::ALL.to_vec(),
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            password: crate::DEFAULT_PASSWORD.to_owned(),
            client_id: "crm".into(),
            client_secret: "crm-demo-secret".into(),
            redirect_uri: "http://127.0.0.1:8081/callback".into(),
            scope: "openid profile email offline_access".into(),
            pid: None,
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// careid's base URL.
    pub url: String,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Seconds each scenario was given.
    pub seconds_per_scenario: f64,
    /// The machine's 1-, 5- and 15-minute load averages before the first scenario: the
    /// bench shares the cores with careid, and anything else running skews both.
    pub load_average_before: Option<[f64; 3]>,
    /// The same after the last scenario.
    pub load_average_after: Option<[f64; 3]>,
    /// One entry per scenario, in the order run.
    pub scenarios: Vec<ScenarioReport>,
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Which.
    pub scenario: Scenario,
    /// Successful operations per second of wall time.
    pub ops_per_sec: f64,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations (and workers that could not get ready).
    pub errors: u64,
    /// Wall time from the start signal until the last worker finished, seconds.
    pub seconds: f64,
    /// Latency of successful operations; absent when none succeeded.
    pub latency: Option<Latency>,
    /// Up to five distinct failures, as careid answered them, each with how often it
    /// was seen.
    pub error_samples: Vec<ErrorSample>,
    /// The server's memory and CPU, when its pid was given.
    pub server: Option<ServerUsage>,
}

/// The server process before and after a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    /// Read just before the workers started preparing.
    pub before: ProcessSample,
    /// Read just after the last worker finished.
    pub after: ProcessSample,
    /// CPU seconds the server spent during the scenario (preparation included).
    pub cpu_seconds: f64,
}

/// What one worker counted.
#[derive(Default)]
struct Tally {
    micros: Vec<u32>,
    ok: u64,
    errors: u64,
    samples: Vec<ErrorSample>,
}

impl Tally {
    fn fail(&mut self, sample: ErrorSample) {
        self.errors += 1;
        keep(&mut self.samples, sample);
    }
}

/// Counts `sample` against an equal one already kept, or keeps it while there is room.
fn keep(samples: &mut Vec<ErrorSample>, sample: ErrorSample) {
    let room = samples.len() < MAX_SAMPLES;
    let same = samples
        .iter_mut()
        .find(|s| s.step == sample.step && s.status == sample.status && s.body == sample.body);
    match same {
        Some(kept) => kept.count += sample.count,
        None if room => samples.push(sample),
        None => {}
    }
}

/// Runs every chosen scenario in turn and reports on each. Fails only when careid does
/// not answer discovery at all, or the pid cannot be read; failed requests are counted.
pub async fn run(options: &BenchOptions) -> Result<Report, BenchError> {
    let base = Url::parse(&options.url).map_err(|err| BenchError::BadUrl(err.to_string()))?;
    if base.cannot_be_a_base() {
        return Err(BenchError::BadUrl(options.url.clone()));
    }
    let target = Arc::new(Target {
        base,
        client_id: options.client_id.clone(),
        client_secret: options.client_secret.clone(),
        redirect_uri: options.redirect_uri.clone(),
        scope: options.scope.clone(),
    });
    let probe = Browser::new(target.clone())?;
    probe
        .fetch("/.well-known/openid-configuration")
        .await
        .map_err(|sample| BenchError::Unreachable {
            url: options.url.clone(),
            why: format!("{:?} {}", sample.status, sample.body),
        })?;
    let load_average_before = procfs::load_average();
    let mut scenarios = Vec::with_capacity(options.scenarios.len());
    for &scenario in &options.scenarios {
        scenarios.push(run_scenario(scenario, options, &target).await?);
    }
    Ok(Report {
        url: options.url.clone(),
        concurrency: options.concurrency,
        seconds_per_scenario: options.duration.as_secs_f64(),
        load_average_before,
        load_average_after: procfs::load_average(),
        scenarios,
    })
}

async fn run_scenario(
    scenario: Scenario,
    options: &BenchOptions,
    target: &Arc<Target>,
) -> Result<ScenarioReport, BenchError> {
    let workers = options.concurrency.max(1);
    let before = options.pid.map(procfs::sample).transpose()?;
    // Every worker and this task meet twice: once all are prepared, the clock starts.
    let ready = Arc::new(Barrier::new(workers + 1));
    let mut tasks = JoinSet::new();
    for n in 1..=workers {
        let browser = Browser::new(target.clone())?;
        let person = scenario.needs_account().then(|| Person {
            email: account_email(&options.prefix, n as u64),
            password: options.password.clone(),
        });
        let ready = ready.clone();
        let duration = options.duration;
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let prepared = scenario::prepare(scenario, &browser, person.as_ref()).await;
            ready.wait().await;
            let mut worker = match prepared {
                Ok(worker) => worker,
                Err(sample) => {
                    tally.fail(sample);
                    return tally;
                }
            };
            let deadline = Instant::now() + duration;
            while Instant::now() < deadline {
                let started = Instant::now();
                match scenario::step(scenario, &browser, &mut worker, person.as_ref()).await {
                    Ok(()) => {
                        let micros = started.elapsed().as_micros();
                        tally.micros.push(u32::try_from(micros).unwrap_or(u32::MAX));
                        tally.ok += 1;
                    }
                    Err(sample) => tally.fail(sample),
                }
            }
            tally
        });
    }
    ready.wait().await;
    let started = Instant::now();
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let tally = joined.map_err(|err| BenchError::Worker(err.to_string()))?;
        total.micros.extend(tally.micros);
        total.ok += tally.ok;
        total.errors += tally.errors;
        for sample in tally.samples {
            keep(&mut total.samples, sample);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = options.pid.map(procfs::sample).transpose()?;
    let server = before.zip(after).map(|(before, after)| ServerUsage {
        cpu_seconds: round(after.cpu_seconds - before.cpu_seconds, 2),
        before,
        after,
    });
    Ok(ScenarioReport {
        scenario,
        ops_per_sec: round(total.ok as f64 / seconds, 1),
        ok: total.ok,
        errors: total.errors,
        seconds: round(seconds, 3),
        latency: Latency::of(total.micros),
        error_samples: total.samples,
        server,
    })
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10_f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, body: &str) -> ErrorSample {
        ErrorSample {
            step: "POST /token (refresh_token)".into(),
            status: Some(status),
            body: body.into(),
            count: 1,
        }
    }

    #[test]
    fn equal_failures_are_counted_in_one_sample() {
        let mut tally = Tally::default();
        for _ in 0..3 {
            tally.fail(failure(500, "server_error"));
        }
        tally.fail(failure(503, "busy"));
        assert_eq!(tally.errors, 4);
        assert_eq!(tally.samples.len(), 2);
        assert_eq!(tally.samples[0].count, 3);
        assert_eq!(tally.samples[1].count, 1);
    }

    #[test]
    fn at_most_five_distinct_samples_are_kept_but_every_failure_counts() {
        let mut tally = Tally::default();
        for n in 0..6 {
            tally.fail(failure(500, &format!("failure {n}")));
        }
        assert_eq!(tally.errors, 6);
        assert_eq!(tally.samples.len(), MAX_SAMPLES);
        let mut merged = tally.samples.clone();
        keep(&mut merged, failure(500, "failure 0"));
        assert_eq!(merged[0].count, 2);
    }
}
