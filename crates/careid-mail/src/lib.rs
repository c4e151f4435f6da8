//! careid's outgoing mail: rendering themed messages (`Renderer`) and delivering them
//! (`Mailer`), over SMTP in production or to an outbox directory of `.eml` files in
//! development. Which message to send, to whom, and the links and codes in it are
//! `careid-accounts`' business.
mod config;
mod error;
mod message;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod transport;

pub use config::{MailConfig, MailTransport, SmtpConfig, SmtpSecurity};
pub use error::MailError;
pub use message::{DEFAULT_THEME, Email, EmailContent, MESSAGES, Renderer};
pub use transport::Mailer;
