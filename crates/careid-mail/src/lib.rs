//! careid's outgoing mail: rendering themed messages (`Renderer`) and delivering them
//! (`Mailer`), over SMTP in production or to an outbox directory of `.eml` files in
//! development. Which message to send, to whom, and the links and codes in it are
//! `careid-accounts`' business.
mod address;
mod config;
mod error;
mod message;
pub mod template_check;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod theme_files;
mod transport;

pub use address::is_valid_address;
pub use config::{MailConfig, MailTransport, SmtpConfig, SmtpSecurity};
pub use error::MailError;
pub use message::{DEFAULT_THEME, Email, EmailContent, MESSAGES, NOTICES, Renderer};
pub use transport::{Delivered, Mailer};
