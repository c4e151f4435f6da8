//! Log output: `[log] format = "text"` (for people) or `"json"` (one object a line, for
//! log shippers), written to stderr, without colour codes unless stderr is a terminal
//! (and `NO_COLOR` is unset). Which lines are written is `CAREID_LOG`'s filter.
//!
//! A request formats its lines and hands them to a thread of their own, which writes
//! whatever has queued up in one go. Writing each access log line from the request
//! itself cost a system call per request: a third of discovery's throughput.

use std::io::{BufWriter, IsTerminal};

use serde::Deserialize;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// `[log]`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
}

/// How a log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, with the request's span (its `request_id`) in it.
    Json,
}

/// How many formatted lines may wait for the writer thread.
const QUEUED_LINES: usize = 4096;

/// Installs the global subscriber: `filter` (from `CAREID_LOG`, else `default`) in
/// `format`. Called once, by `main`, which keeps the guard until it returns: dropping it
/// writes out the lines still queued.
pub fn init(format: LogFormat, default: &str) -> WorkerGuard {
    let filter = EnvFilter::try_from_env("CAREID_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // Not lossy: when the queue is full a request waits for the writer rather than
    // losing its access log line. The queue's slots are allocated up front: the
    // default 128,000 lines held 6 MiB of memory for a backlog that never forms.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("careid-log")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    guard
}
