//! The bench crate's one error type: what stops a whole run. A failed request inside a
//! scenario is not an error here; it is counted and sampled in the scenario's report.

use careid_policy::{PolicyError, Violation};
use careid_store::{DbErr, StoreError};

/// Why a bench, bounds or seed run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The base URL does not parse or cannot serve as one.
    #[error("not a usable base URL: {0}")]
    BadUrl(String),
    /// A scenario name nobody knows.
    #[error("unknown scenario {0:?}; scenarios are {1}")]
    UnknownScenario(String, String),
    /// No careid answered at the URL before the run.
    #[error("careid does not answer at {url}: {why}")]
    Unreachable {
        /// The discovery URL tried.
        url: String,
        /// What happened instead.
        why: String,
    },
    /// The HTTP client could not be built (TLS back-end missing).
    #[error("cannot build an HTTP client: {0}")]
    HttpClient(String),
    /// `/proc/PID` could not be read or parsed: the server's pid is wrong or it exited.
    #[error("cannot read /proc/{pid}: {why}")]
    ProcessGone {
        /// The pid given.
        pid: u32,
        /// What failed.
        why: String,
    },
    /// The seed password breaks the configured password rules.
    #[error("the password breaks the password rules: {0:?}")]
    PasswordRejected(Vec<Violation>),
    /// Hashing failed (parameters out of argon2's range).
    #[error("password hashing failed: {0}")]
    Hash(#[from] PolicyError),
    /// A signing key could not be made or used.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The database (seed) failed.
    #[error("database failed: {0}")]
    Store(#[from] StoreError),
    /// The scratch SQLite database of the bounds failed.
    #[error("scratch database failed: {0}")]
    Scratch(#[from] DbErr),
    /// A file or folder for the scratch database could not be made.
    #[error("cannot make a scratch folder: {0}")]
    ScratchDir(#[from] std::io::Error),
    /// A measuring thread or task died.
    #[error("a measuring thread failed: {0}")]
    Worker(String),
}
