//! The crate's one error type. Rendering, assembling and delivering a message each fail
//! in their own variants, so a caller can tell a broken theme from a mail server that is down.

use std::path::PathBuf;

/// Everything that can go wrong while rendering or sending a message.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A theme or message name holds characters other than letters, digits, `-` and `_`.
    #[error("invalid theme or message name {0:?}")]
    InvalidName(String),
    /// Neither the theme nor `default` has the template file.
    #[error("no template {file} in theme {theme:?} or in the default theme")]
    TemplateNotFound {
        /// The theme that was asked for.
        theme: String,
        /// The file, e.g. `invitation.subject.txt`.
        file: String,
    },
    /// A template failed to parse or render, e.g. a required variable was missing.
    #[error("template failed: {0:#}")]
    TemplateFailed(#[from] minijinja::Error),
    /// A sender or recipient address could not be parsed.
    #[error("invalid mail address {address:?}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it was rejected.
        #[source]
        source: lettre::address::AddressError,
    },
    /// The message could not be assembled from its parts.
    #[error("the message could not be assembled")]
    MessageNotAssembled(#[from] lettre::error::Error),
    /// `smtp.username` was set without `smtp.password_env`, or the other way round.
    #[error("mail.smtp.username and mail.smtp.password_env must be set together")]
    CredentialsIncomplete,
    /// The environment variable named by `smtp.password_env` is not set.
    #[error("the environment variable {0} named by mail.smtp.password_env is not set")]
    PasswordNotSet(String),
    /// The SMTP relay could not be set up (e.g. its TLS parameters).
    #[error("the SMTP relay {host:?} could not be set up")]
    RelayNotSetUp {
        /// The configured host.
        host: String,
        /// Why.
        #[source]
        source: lettre::transport::smtp::Error,
    },
    /// The mail server did not take the message, after every allowed attempt.
    #[error("the mail server did not accept the message after {attempts} attempt(s)")]
    NotDelivered {
        /// How many times sending was tried.
        attempts: u32,
        /// The last failure.
        #[source]
        source: lettre::transport::smtp::Error,
    },
    /// The message could not be written to the outbox directory.
    #[error("the message could not be written to the outbox at {path}")]
    OutboxUnwritable {
        /// The directory or file that could not be written.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
