//! careid's benchmark: drives a running careid over HTTP the way relying parties and
//! browsers do (`careid bench`), measures the machine's own limits in the same run
//! (`careid bench bounds`), and fills a database with many accounts to sign in as
//! (`careid seed`). Every figure comes out as JSON.
//!
//! The load side knows careid only through HTTP and its HTML; the bounds use the same
//! libraries careid uses (argon2 through `careid-policy`, josekit, SQLite through
//! sea-orm); seeding writes through `careid-store`.

mod bounds;
mod browser;
mod cookies;
mod error;
mod form;
pub mod html;
mod procfs;
mod run;
mod scenario;
mod seed;
mod stats;

pub use bounds::{BoundsOptions, BoundsReport, HashBound, Throughput, measure as measure_bounds};
pub use browser::ErrorSample;
pub use error::BenchError;
pub use procfs::{ProcessSample, sample as sample_process};
pub use run::{BenchOptions, Report, ScenarioReport, ServerUsage, run};
pub use scenario::Scenario;
pub use seed::{EMAIL_DOMAIN, SeedOptions, SeedReport, account_email, seed};
pub use stats::Latency;

/// The password `careid seed` gives bench accounts unless told otherwise. It passes the
/// default password rules for every `bench-<n>` email.
pub const DEFAULT_PASSWORD: &str = "Load-Test-Pass-42!";

/// The start of every bench account's email.
pub const DEFAULT_PREFIX: &str = "bench-";
