//! careid's credential policy: password rules and history, argon2id hashing, inactivity
//! expiry, lockout, session lifetime and one-time code rules.
//!
//! Everything here is a pure rule: no I/O, no async, no database, no clock. Time always
//! comes in as an argument `now`. Storing counters, hashes and timestamps, and running
//! argon2 off the async runtime, are left to `careid-accounts` and `careid-store`.
mod error;
pub mod expiry;
pub mod hash;
pub mod history;
pub mod lockout;
pub mod one_time;
pub mod password;
pub mod recovery;
pub mod secret;
pub mod session;
pub mod totp;

pub use error::PolicyError;
pub use expiry::is_inactive_expired;
pub use hash::{
    HashParams, HashWorkspace, dummy_verify, hash_password, needs_rehash, verify_password,
};
pub use history::{HISTORY_DEPTH, is_reused};
pub use lockout::{FailureOutcome, LockoutRules, is_locked};
pub use one_time::OneTimeRules;
pub use password::{PasswordRules, Violation};
pub use secret::{PasswordHash, PlainPassword};
pub use session::{SessionRules, is_session_live};
