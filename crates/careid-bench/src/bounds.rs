//! The machine's own limits, measured in the same run as the load so the figures can be
//! read as ratios: argon2id hashes per second with the configured parameters (one core,
//! then every core), JWT signatures per second for RS256, ES256 and EdDSA (Ed25519) with
//! josekit as careid signs them, and SQLite commits per second of one small insert
//! (WAL, synchronous NORMAL and FULL) on the disk the temporary folder lives on.

use std::{
    path::Path,
    thread,
    time::{Duration, Instant, SystemTime},
};

use careid_policy::{HashParams, PlainPassword, hash_password};
use josekit::{
    jwk::{Ed25519, KeyPair},
    jws::{ES256, EdDSA, JwsHeader, JwsSigner, RS256},
    jwt::{self, JwtPayload},
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DbBackend, Statement, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use serde::Serialize;

use crate::BenchError;

/// How long and on how many threads to measure.
#[derive(Debug, Clone)]
pub struct BoundsOptions {
    /// Time given to each measurement.
    pub duration: Duration,
    /// argon2id parameters: careid's configured `[policy.hash]`.
    pub hash: HashParams,
    /// Threads for the all-cores figures; 0 means one per core.
    pub threads: usize,
    /// Where the scratch SQLite file goes (the system's temporary folder if `None`).
    pub scratch_dir: Option<std::path::PathBuf>,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct BoundsReport {
    /// Cores the all-cores figures used.
    pub cores: usize,
    /// Seconds each figure was measured for.
    pub seconds_per_measure: f64,
    /// The machine's 1-, 5- and 15-minute load averages before measuring: other work
    /// on the cores lowers every figure.
    pub load_average_before: Option<[f64; 3]>,
    /// argon2id with careid's parameters.
    pub argon2id: HashBound,
    /// JWT signatures, one entry per algorithm.
    pub signatures: Vec<Throughput>,
    /// SQLite commits, one entry per `synchronous` setting.
    pub sqlite_commits: Vec<Throughput>,
}

/// argon2id hashes per second.
#[derive(Debug, Clone, Serialize)]
pub struct HashBound {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes per second on one thread.
    pub one_core_per_sec: f64,
    /// Hashes per second with one thread per core.
    pub all_cores_per_sec: f64,
}

/// Operations per second of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// What: `RS256`, `ES256`, `EdDSA`, or `synchronous=NORMAL`…
    pub name: String,
    /// On one thread.
    pub one_core_per_sec: f64,
    /// On one thread per core; absent where one writer is the point (SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_cores_per_sec: Option<f64>,
}

/// Measures every bound in turn. CPU work runs on threads of its own, never on the
/// async runtime.
pub async fn measure(options: &BoundsOptions) -> Result<BoundsReport, BenchError> {
    let cores = if options.threads == 0 {
        thread::available_parallelism().map_or(1, usize::from)
    } else {
        options.threads
    };
    let load_average_before = crate::procfs::load_average();
    let cpu = options.clone();
    let (argon2id, signatures) = tokio::task::spawn_blocking(move || {
        Ok::<_, BenchError>((argon2_bound(&cpu, cores)?, signature_bounds(&cpu, cores)?))
    })
    .await
    .map_err(|err| BenchError::Worker(err.to_string()))??;
    let dir = match &options.scratch_dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let mut sqlite_commits = Vec::new();
    for (name, synchronous) in [
        ("NORMAL", SqliteSynchronous::Normal),
        ("FULL", SqliteSynchronous::Full),
    ] {
        sqlite_commits.push(sqlite_bound(dir.path(), name, synchronous, options.duration).await?);
    }
    Ok(BoundsReport {
        cores,
        seconds_per_measure: options.duration.as_secs_f64(),
        load_average_before,
        argon2id,
        signatures,
        sqlite_commits,
    })
}

fn argon2_bound(options: &BoundsOptions, cores: usize) -> Result<HashBound, BenchError> {
    let password = PlainPassword::new("Load-Test-Pass-42!");
    let hash = || {
        hash_password(&password, &options.hash)
            .map(drop)
            .map_err(BenchError::from)
    };
    Ok(HashBound {
        memory_kib: options.hash.memory_kib,
        iterations: options.hash.iterations,
        parallelism: options.hash.parallelism,
        one_core_per_sec: rate(1, options.duration, hash)?,
        all_cores_per_sec: rate(cores, options.duration, hash)?,
    })
}

fn signature_bounds(options: &BoundsOptions, cores: usize) -> Result<Vec<Throughput>, BenchError> {
    let signing = |err: josekit::JoseError| BenchError::Signing(err.to_string());
    let rsa = RS256.generate_key_pair(2048).map_err(signing)?;
    let ec = ES256.generate_key_pair().map_err(signing)?;
    let ed = EdDSA.generate_key_pair(Ed25519).map_err(signing)?;
    let signers: [(&str, Box<dyn JwsSigner>); 3] = [
        (
            "RS256",
            Box::new(
                RS256
                    .signer_from_der(rsa.to_der_private_key())
                    .map_err(signing)?,
            ),
        ),
        (
            "ES256",
            Box::new(
                ES256
                    .signer_from_der(ec.to_der_private_key())
                    .map_err(signing)?,
            ),
        ),
        (
            "EdDSA",
            Box::new(
                EdDSA
                    .signer_from_der(ed.to_der_private_key())
                    .map_err(signing)?,
            ),
        ),
    ];
    let payload = access_token_claims()?;
    let mut header = JwsHeader::new();
    header.set_token_type("at+jwt");
    header.set_key_id("bench-key");
    let mut out = Vec::new();
    for (name, signer) in &signers {
        let sign = || {
            jwt::encode_with_signer(&payload, &header, signer.as_ref())
                .map(drop)
                .map_err(signing)
        };
        out.push(Throughput {
            name: (*name).to_owned(),
            one_core_per_sec: rate(1, options.duration, sign)?,
            all_cores_per_sec: Some(rate(cores, options.duration, sign)?),
        });
    }
    Ok(out)
}

/// Claims the size of an RFC 9068 access token careid issues.
fn access_token_claims() -> Result<JwtPayload, BenchError> {
    let mut payload = JwtPayload::new();
    payload.set_issuer("http://127.0.0.1:8080");
    payload.set_subject("bUx3rT0cVq2mH8kPz1LwYg");
    payload.set_audience(vec!["crm"]);
    payload.set_jwt_id("Jq9wX2cV7bN4mK1pL8zR5t");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    payload.set_issued_at(&now);
    payload.set_expires_at(&(now + Duration::from_secs(600)));
    payload
        .set_claim(
            "scope",
            Some(josekit::Value::String("openid profile email".into())),
        )
        .map_err(|err| BenchError::Signing(err.to_string()))?;
    payload
        .set_claim("client_id", Some(josekit::Value::String("crm".into())))
        .map_err(|err| BenchError::Signing(err.to_string()))?;
    Ok(payload)
}

/// Commits per second of one small `INSERT` per transaction through one connection,
/// as careid's single writer does them.
async fn sqlite_bound(
    dir: &Path,
    name: &str,
    synchronous: SqliteSynchronous,
    duration: Duration,
) -> Result<Throughput, BenchError> {
    let url = format!("sqlite://{}/commits-{name}.db?mode=rwc", dir.display());
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    options.map_sqlx_sqlite_opts(move |o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
    });
    let db = Database::connect(options).await?;
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS commits (id INTEGER PRIMARY KEY, digest TEXT NOT NULL, at TEXT NOT NULL)",
    )
    .await?;
    let insert = Statement::from_string(
        DbBackend::Sqlite,
        "INSERT INTO commits (digest, at) VALUES (hex(randomblob(32)), datetime('now'))",
    );
    let started = Instant::now();
    let deadline = started + duration;
    let mut commits: u64 = 0;
    while Instant::now() < deadline {
        let txn = db.begin().await?;
        txn.execute_raw(insert.clone()).await?;
        txn.commit().await?;
        commits += 1;
    }
    let per_sec = commits as f64 / started.elapsed().as_secs_f64();
    db.close().await?;
    Ok(Throughput {
        name: format!("synchronous={name}"),
        one_core_per_sec: per_sec.round(),
        all_cores_per_sec: None,
    })
}

/// Runs `op` on `threads` threads for `duration`: completed operations per second of
/// wall time. The first error stops the measurement.
fn rate<F>(threads: usize, duration: Duration, op: F) -> Result<f64, BenchError>
where
    F: Fn() -> Result<(), BenchError> + Sync,
{
    let started = Instant::now();
    let deadline = started + duration;
    let counts = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done: u64 = 0;
                    while Instant::now() < deadline {
                        op()?;
                        done += 1;
                    }
                    Ok::<_, BenchError>(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| BenchError::Worker("a measuring thread panicked".into()))?
            })
            .collect::<Result<Vec<u64>, BenchError>>()
    })?;
    let total: u64 = counts.iter().sum();
    Ok((total as f64 / started.elapsed().as_secs_f64() * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_counts_every_thread() {
        let one = rate(1, Duration::from_millis(50), || Ok(())).unwrap();
        let two = rate(2, Duration::from_millis(50), || Ok(())).unwrap();
        assert!(one > 0.0 && two > 0.0);
    }

    #[test]
    fn a_failing_operation_stops_the_measurement() {
        let failed = rate(2, Duration::from_secs(5), || {
            Err(BenchError::Signing("no key".into()))
        });
        assert!(matches!(failed, Err(BenchError::Signing(_))));
    }

    #[tokio::test]
    async fn every_bound_is_measured_and_positive() {
        let report = measure(&BoundsOptions {
            duration: Duration::from_millis(50),
            hash: HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            threads: 2,
            scratch_dir: None,
        })
        .await
        .unwrap();
        assert_eq!(report.cores, 2);
        assert!(report.argon2id.one_core_per_sec > 0.0);
        assert!(report.argon2id.all_cores_per_sec > 0.0);
        let names: Vec<&str> = report.signatures.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["RS256", "ES256", "EdDSA"]);
        assert!(report.signatures.iter().all(|s| s.one_core_per_sec > 0.0));
        let sync: Vec<&str> = report
            .sqlite_commits
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(sync, ["synchronous=NORMAL", "synchronous=FULL"]);
        assert!(
            report
                .sqlite_commits
                .iter()
                .all(|s| s.one_core_per_sec > 0.0)
        );
    }
}
