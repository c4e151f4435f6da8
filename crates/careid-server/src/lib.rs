//! The `careid` server: configuration, wiring of the crates into one router, the CLI's
//! commands and the background jobs. The binary in `main.rs` only parses arguments.

pub mod admin;
mod app;
pub mod cli;
mod clients;
mod config;
pub mod demo;
mod headers;
mod health;
mod jobs;
pub mod logging;
pub mod metrics;
mod observe;
mod startup;
mod templates;

pub use app::{App, redact};
pub use clients::{FileProblem, load_dir as load_clients, parse_file as parse_client_file};
pub use config::{AuditConfig, Config, KEK_VARIABLE, KeysConfig, PolicyConfig};
pub use jobs::{AUDIT_BATCH, prune_audit};

/// An instant as RFC 3339 text, as the CLI prints it and the admin API answers it.
pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    use time::format_description::well_known::Rfc3339;
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
