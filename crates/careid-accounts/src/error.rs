//! The one error type of careid-accounts. Sign-in outcomes have their own enum,
//! [`crate::SignInError`], because each of them is a page the person sees.

use careid_policy::{PolicyError, Violation};
use careid_store::{StoreError, accounts::Status};

/// What went wrong in an account operation.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Every hashing slot, or the database, stayed taken for the configured wait; the
    /// server answers 503 with `Retry-After`.
    #[error("careid is at capacity")]
    Busy,
    /// The new password breaks these rules (all of them, so the page lists them at once).
    #[error("the new password breaks {} rule(s)", .0.len())]
    PasswordRejected(Vec<Violation>),
    /// An account with this email exists already.
    #[error("an account with this email exists already")]
    EmailTaken,
    /// The email is empty or has no `@`.
    #[error("not an email address")]
    InvalidEmail,
    /// The password given as the current one is wrong.
    #[error("the current password is wrong")]
    CurrentPasswordWrong,
    /// No account has this id or email.
    #[error("no such account")]
    UnknownAccount,
    /// The profile does not exist or belongs to another account.
    #[error("no such profile for this account")]
    UnknownProfile,
    /// The session does not exist or belongs to another account.
    #[error("no such session for this account")]
    UnknownSession,
    /// The action does not apply to an account in this status (enabling an account that
    /// is not disabled, reactivating one that has not expired…).
    #[error("the account is {}", .0.as_str())]
    WrongStatus(Status),
    /// Hashing failed, for example with out-of-range argon2 parameters.
    #[error("hashing failed: {0}")]
    Hash(#[from] PolicyError),
    /// A hashing job panicked, or no hashing worker is running.
    #[error("a hashing worker failed")]
    HashWorkerFailed,
    /// An invitation or reset link is unknown, already used or expired.
    #[error("the link is {}", .0.as_str())]
    LinkNotUsable(LinkProblem),
    /// A reset security code did not match; `attempts_left` more guesses are allowed.
    #[error("the security code is wrong ({attempts_left} attempt(s) left)")]
    CodeWrong {
        /// Guesses left before the code stops working.
        attempts_left: u32,
    },
    /// No security code can be used: none was sent, it expired, it was used, or it had too
    /// many wrong guesses. The person starts the reset again.
    #[error("no usable security code")]
    CodeDead,
    /// The security code was sent for another browser than the one entering it.
    #[error("the security code belongs to another browser")]
    WrongBrowser,
    /// An administrator asked for a link that lives longer than configuration allows, or
    /// not at all.
    #[error("a link may last from one minute to {max_hours} hours")]
    LifetimeOutOfRange {
        /// The longest allowed lifetime, in hours.
        max_hours: i64,
    },
    /// Staff asked for a PIN that works longer than configuration allows, or not at all.
    #[error("a PIN may work from one minute to {max_minutes} minutes")]
    PinLifetimeOutOfRange {
        /// The longest allowed lifetime, in minutes (`lifecycle.pin_max_minutes`).
        max_minutes: i64,
    },
    /// The profile is the account's last one; an account always keeps one.
    #[error("the last profile of an account cannot be removed")]
    LastProfile,
    /// A profile field is not acceptable (an empty name, an unknown kind, a date that is
    /// not `YYYY-MM-DD`).
    #[error("{why}")]
    InvalidProfile {
        /// The field at fault: `name`, `email` or `birthdate`.
        field: &'static str,
        /// What is wrong with it, for the person who typed it.
        why: &'static str,
    },
    /// This client address asked for too many resets lately; it may ask again once the
    /// window has passed.
    #[error("too many requests from this address")]
    TooManyRequests {
        /// Minutes until the address may ask again, at most the window.
        retry_after_minutes: u32,
    },
    /// A message could not be rendered or sent.
    #[error("mail failed: {0}")]
    Mail(#[from] careid_mail::MailError),
    /// The code typed to confirm a TOTP enrolment matches no current step.
    #[error("the authenticator code is wrong")]
    TotpCodeWrong,
    /// There is no TOTP enrolment under way to confirm (confirmed already, or removed).
    #[error("no TOTP enrolment under way")]
    NoTotpEnrolment,
    /// A stored TOTP secret does not open under the installation's TOTP key.
    #[error("a TOTP secret could not be sealed or opened: {0}")]
    TotpSealing(&'static str),
    /// This server cannot use passkeys: its issuer's host is not a domain name.
    #[error("passkeys are not available on this server")]
    PasskeysUnavailable,
    /// A passkey registration did not check out: the answer does not verify, or the
    /// ceremony it answers is unknown, used or expired.
    #[error("the passkey was not accepted")]
    PasskeyRejected,
    /// The passkey is registered already (to this account or another).
    #[error("this passkey is registered already")]
    PasskeyTaken,
    /// The account has no passkey with this id.
    #[error("no such passkey for this account")]
    UnknownPasskey,
    /// A passkey name is empty, too long, or has control characters.
    #[error("a passkey name has 1 to 64 characters")]
    InvalidPasskeyName,
    /// A passkey operation failed inside careid (a stored passkey or ceremony that no
    /// longer reads, or webauthn-rs refusing its own options).
    #[error("passkey operation failed: {0}")]
    PasskeyFailure(String),
    /// The store failed.
    #[error("store failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for AccountsError {
    fn from(err: StoreError) -> Self {
        match err {
            // An overloaded database is the same "try again shortly" as a full hash pool.
            StoreError::Busy => Self::Busy,
            other => Self::Store(other),
        }
    }
}

/// Why a one-time link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// No link has this token (mistyped, cut off, or never issued).
    Unknown,
    /// The link was used already, or a newer one replaced it.
    Used,
    /// The link is past its expiry.
    Expired,
}

impl LinkProblem {
    /// A lower-case word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Used => "used",
            Self::Expired => "expired",
        }
    }
}
