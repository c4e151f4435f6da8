//! careid's storage: sea-orm entities and every query the other crates need, one module
//! per table or aggregate. Runs on SQLite (the embedded default) and PostgreSQL.
//!
//! Timestamps are UTC and whole seconds (see [`Clock`]); that keeps SQLite's text
//! timestamps in the same order as the instants they name.

pub mod accounts;
pub mod audit;
pub mod authorization_requests;
pub mod backup;
pub mod client_assertions;
pub mod clients;
mod clock;
pub mod codes;
pub mod consents;
mod db;
mod error;
pub mod health;
mod ids;
mod inline_reader;
mod inline_writer;
pub mod install_secrets;
pub mod logout_deliveries;
pub mod one_time_tokens;
pub mod pairwise;
pub mod passkey_ceremonies;
pub mod passkeys;
pub mod password_history;
pub mod profiles;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod registration_tokens;
pub mod revoked_access_tokens;
pub mod seed;
pub mod sessions;
pub mod signing_keys;
mod sql_once;
mod sqlite_failure;
pub mod totp_factors;
mod transaction;

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Backend, DEFAULT_WAIT, Db, Tally, connect, connect_with, migrate, sqlite_file};
pub use error::StoreError;
pub use ids::{AccountId, ClientId, PasskeyId, ProfileId};
pub use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
pub use transaction::Tx;
