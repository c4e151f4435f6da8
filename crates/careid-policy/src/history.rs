//! Password history: a new password may match none of the last [`HISTORY_DEPTH`] passwords.
//! Storing and trimming the history is `careid-store`'s job; this only decides.

use crate::hash::verify_password;
use crate::secret::{PasswordHash, PlainPassword};

/// How many recent passwords a new one must differ from: the current password plus the
/// four before it.
pub const HISTORY_DEPTH: usize = 5;

/// Whether `password` matches one of the newest [`HISTORY_DEPTH`] entries of
/// `recent_hashes`, which the caller passes newest first. Older entries are ignored.
///
/// Each entry costs one argon2 verification, so run this off the async runtime.
pub fn is_reused(password: &PlainPassword, recent_hashes: &[PasswordHash]) -> bool {
    recent_hashes
        .iter()
        .take(HISTORY_DEPTH)
        .any(|hash| verify_password(password, hash))
}

/// The history rule as a sentence, to show beside [`crate::PasswordRules::describe`] on
/// pages where the person already has a password (change and reset, not first set-up).
pub fn describe() -> String {
    format!("Choose a password different from your last {HISTORY_DEPTH}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{HashParams, hash_password};

    const CHEAP: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    /// Passwords from newest (the current one) to oldest.
    const PASSWORDS: [&str; 6] = [
        "Current-Pass-06",
        "Earlier-Pass-05",
        "Earlier-Pass-04",
        "Earlier-Pass-03",
        "Earlier-Pass-02",
        "Oldest-Pass-01!",
    ];

    fn history() -> Vec<PasswordHash> {
        PASSWORDS
            .iter()
            .map(|text| hash_password(&PlainPassword::new(*text), &CHEAP).unwrap())
            .collect()
    }

    #[test]
    fn the_history_holds_the_current_password_and_four_before_it() {
        assert_eq!(HISTORY_DEPTH, 5);
    }

    #[test]
    fn the_current_password_is_refused() {
        assert!(is_reused(&PlainPassword::new(PASSWORDS[0]), &history()));
    }

    #[test]
    fn the_fifth_most_recent_password_is_refused() {
        assert!(is_reused(&PlainPassword::new(PASSWORDS[4]), &history()));
    }

    #[test]
    fn the_sixth_most_recent_password_is_accepted() {
        assert!(!is_reused(&PlainPassword::new(PASSWORDS[5]), &history()));
    }

    #[test]
    fn a_password_never_used_is_accepted() {
        assert!(!is_reused(
            &PlainPassword::new("Brand-New-Pass-07"),
            &history()
        ));
    }

    #[test]
    fn an_empty_history_refuses_nothing() {
        assert!(!is_reused(&PlainPassword::new(PASSWORDS[0]), &[]));
    }

    #[test]
    fn the_description_names_the_depth() {
        assert_eq!(describe(), "Choose a password different from your last 5.");
    }
}
