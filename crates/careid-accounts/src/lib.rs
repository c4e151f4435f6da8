//! careid's account lifecycle: password sign-in checks, careid sessions, an account's
//! profiles and the applications they allowed, account creation,
//! password changes and resets, staff-issued sign-in PINs, passkeys, and the administrator's disable / enable / reactivate
//! actions with the inactivity sweep; and, in [`Lifecycle`], the lifecycle by email:
//! invitations, activation, self-service and administrator password resets, and
//! magic links (emailed sign-in links).
//!
//! The rules themselves (password strength, history, lockout, expiry) live in
//! `careid-policy`; every query lives in `careid-store`. This crate decides the order in
//! which they apply, keeps argon2 off the async runtime ([`Hasher`]) and writes the audit
//! trail. Pages and wording are `careid-ui`'s.
mod account_sessions;
mod admin;
mod apps;
mod config;
mod create;
mod delete;
mod directory;
mod error;
mod hasher;
mod invitation;
mod lifecycle;
mod magic_link;
mod notice;
mod passkeys;
mod password_change;
mod pin;
mod profiles;
mod reset;
mod second_factors;
mod service;
mod session;
mod sign_in;
mod sign_in_code;
#[cfg(test)]
mod testing;
mod totp;

/// The store's clock and connection, for whoever builds the services (the server and
/// tests): pages build on services, so they need no dependency on `careid-store`.
pub use careid_store::{
    AccountId, ClientId, Clock, Db, ManualClock, PasskeyId, ProfileId, SystemClock, connect,
    migrate, passkeys::SecondFactors,
};
pub use config::AccountsConfig;
pub use directory::{AccountState, MAX_PAGE, Page};
pub use error::{AccountsError, LinkProblem};
pub use hasher::Hasher;
pub use invitation::{Invitation, LinkHolder, invitation_state_label};
pub use lifecycle::{
    Branding, INVITATION_STATES, Lifecycle, LifecycleConfig, expires_in, parse_lifetime,
};
pub use magic_link::{MAGIC_LINK_PATH, MagicLink, MagicLinkProblem, MagicSignIn};
pub use notice::Notice;
pub use passkeys::{
    MAX_NAME_CHARS as MAX_PASSKEY_NAME_CHARS, PasskeyOptions, PasskeySignIn, PasskeySummary,
    RelyingParty,
};
pub use pin::{IssuedPin, PlainPin};
pub use profiles::{AllowedApp, NewProfileFields, Profile, ProfileKind};
pub use reset::{AdminResetLink, ResetLink};
pub use second_factors::SecondFactor;
pub use service::Accounts;
pub use session::SessionSecret;
pub use sign_in::{PasswordSignIn, SignInError};
pub use sign_in_code::{CodeChallenge, CodeSignIn, StepUp};
pub use totp::{RecoveryCodes, TotpEnrolment};
