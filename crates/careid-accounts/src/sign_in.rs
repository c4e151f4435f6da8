//! Password sign-in (DESIGN.md, "A sign-in, end to end", step 4): find the account, check
//! the password, then say why a correct password still cannot sign in.
//!
//! Unknown email, wrong password and "no password set" are one answer, and an unknown
//! email costs the same argon2 time, so the page never tells which emails have accounts.
//! An account's state (invited, disabled, expired, locked) is told only to someone who
//! typed its password. Wording is `careid-ui`'s; sessions are [`Accounts::start_session`].

use careid_policy::{PasswordHash, PlainPassword, is_locked, lockout::after_failure, needs_rehash};
use careid_store::{
    AccountId, ClientId, StoreError,
    accounts::{self, Account, Status},
    audit, passkeys,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    Accounts, AccountsError, CodeChallenge,
    service::{commit, rfc3339},
};

/// Why a password sign-in did not succeed. Each is its own message on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Unknown email, wrong password, or an account without a password: one answer, so
    /// the page does not reveal which emails have accounts.
    #[error("wrong email or password")]
    WrongCredentials,
    /// Too many wrong passwords; the account opens again at `until`.
    #[error("account locked")]
    Locked {
        /// When the lock ends.
        until: OffsetDateTime,
    },
    /// An administrator disabled the account.
    #[error("account disabled")]
    Disabled,
    /// The account was unused for longer than the inactivity limit; an administrator
    /// reactivates it.
    #[error("account expired")]
    Expired,
    /// The account was invited and the person has not set up their password yet.
    #[error("account not activated")]
    NotActivated,
    /// Too many failed sign-ins from this client address lately (any accounts); it may
    /// try again once the oldest of them leaves the window.
    #[error("too many failed sign-ins from this address")]
    TooManyAttempts {
        /// Minutes until the address may try again, at most the window.
        retry_after_minutes: u32,
    },
    /// Every hashing slot is taken: 503 with `Retry-After`.
    #[error("password hashing is at capacity")]
    Busy,
    /// The code from the authenticator app is wrong, or was used already.
    #[error("wrong authenticator code")]
    CodeWrong,
    /// The sign-in waiting for a code is gone: too slow, replaced by a newer password
    /// sign-in, or finished already. The person starts again with her password.
    #[error("no sign-in is waiting for a code")]
    CodeTimedOut,
    /// The passkey's answer did not check out: no such passkey, a signature that does
    /// not verify, or a challenge that was already answered, expired or never issued.
    #[error("the passkey was not accepted")]
    PasskeyRejected,
    /// Something failed inside careid; the caller logs this once and shows a generic error.
    #[error("sign-in failed: {0}")]
    Internal(String),
}

impl SignInError {
    /// The `result` label of `careid_sign_ins_total` for this refusal.
    pub fn metric_result(&self) -> &'static str {
        match self {
            Self::WrongCredentials => "wrong_credentials",
            Self::Locked { .. } => "locked",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
            Self::NotActivated => "not_activated",
            Self::TooManyAttempts { .. } => "throttled",
            Self::Busy => "busy",
            Self::CodeWrong => "wrong_code",
            Self::CodeTimedOut => "code_timed_out",
            Self::PasskeyRejected => "passkey_rejected",
            Self::Internal(_) => "error",
        }
    }
}

/// Counts one sign-in by `method` in `careid_sign_ins_total`: `success`, or the refusal.
pub(crate) fn count_sign_in<T, E>(
    method: &'static str,
    outcome: &Result<T, E>,
    refusal: impl Fn(&E) -> &'static str,
) {
    let result = match outcome {
        Ok(_) => "success",
        Err(err) => refusal(err),
    };
    count(method, result);
}

/// Counts one sign-in step by `method` in `careid_sign_ins_total` with this `result`.
pub(crate) fn count(method: &'static str, result: &'static str) {
    metrics::counter!("careid_sign_ins_total", "method" => method, "result" => result).increment(1);
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum PasswordSignIn {
    /// The password was enough: the person is signed in.
    Done(Account),
    /// The account has an authenticator app or a passkey: the sign-in goes on with a
    /// code or the passkey, under this challenge (`Accounts::sign_in_code`,
    /// `Accounts::sign_in_passkey_second_factor`).
    CodeNeeded {
        /// The account whose password was right.
        account: Account,
        /// What the browser keeps until it sends the code.
        challenge: CodeChallenge,
    },
}

impl PasswordSignIn {
    /// The account whose password was right.
    pub fn account(&self) -> &Account {
        match self {
            Self::Done(account) | Self::CodeNeeded { account, .. } => account,
        }
    }

    /// The account whose password was right, owned.
    pub fn into_account(self) -> Account {
        match self {
            Self::Done(account) | Self::CodeNeeded { account, .. } => account,
        }
    }
}

impl From<AccountsError> for SignInError {
    fn from(err: AccountsError) -> Self {
        match err {
            AccountsError::Busy => Self::Busy,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for SignInError {
    fn from(err: StoreError) -> Self {
        Self::from(AccountsError::from(err))
    }
}

/// Who is signing in from where, for the audit trail.
pub(crate) struct Origin {
    pub(crate) client_id: Option<ClientId>,
    pub(crate) ip: Option<String>,
}

impl Origin {
    /// The origin of a sign-in for `client_id` (if a client asked) from `ip`.
    pub(crate) fn new(client_id: Option<&ClientId>, ip: Option<String>) -> Self {
        Self {
            client_id: client_id.cloned(),
            ip,
        }
    }

    pub(crate) fn event(
        &self,
        kind: &'static str,
        account_id: Option<AccountId>,
        detail: serde_json::Value,
    ) -> audit::NewEvent {
        audit::NewEvent {
            kind,
            account_id,
            client_id: self.client_id.clone(),
            ip: self.ip.clone(),
            detail,
        }
    }
}

impl Accounts {
    /// Checks an email and password for an interactive sign-in by `client_id` from `ip`.
    ///
    /// On success the failure counters reset, the inactivity clock restarts and a hash made
    /// with older parameters is replaced. For an account with an authenticator app a right
    /// password only issues the challenge of the code step, and the counters stay. A wrong
    /// password counts towards the lockout (unless the account is already locked). An
    /// active account found idle past the limit is marked expired on the spot, its
    /// sessions and refresh tokens revoked.
    pub async fn sign_in_password(
        &self,
        email: &str,
        password: PlainPassword,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<PasswordSignIn, SignInError> {
        let outcome = self.check_password(email, password, client_id, ip).await;
        // A password that must be followed by a code is not yet a sign-in: it counts as
        // `code_needed`, and the code page counts the sign-in under `otp`.
        if let Ok(PasswordSignIn::CodeNeeded { .. }) = &outcome {
            count("password", "code_needed");
        } else {
            count_sign_in("password", &outcome, SignInError::metric_result);
        }
        outcome
    }

    async fn check_password(
        &self,
        email: &str,
        password: PlainPassword,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<PasswordSignIn, SignInError> {
        let now = self.clock.now();
        let origin = Origin::new(client_id, ip);
        // Checked before any hashing: an address guessing at many accounts is stopped
        // without costing argon2 time, and without learning which emails exist.
        if let Some(ip) = &origin.ip {
            let rules = &self.config.lockout;
            let since = now - rules.ip_window();
            let recent = audit::count_from_ip(&self.db, "sign_in_failed", ip, since).await?;
            if rules.is_ip_throttled(recent) {
                let detail = json!({ "reason": "address_throttled", "recent_failures": recent });
                audit::insert_event(
                    &self.db,
                    origin.event("sign_in_throttled", None, detail),
                    now,
                )
                .await?;
                return Err(SignInError::TooManyAttempts {
                    retry_after_minutes: rules.ip_window_minutes,
                });
            }
        }
        let Some(mut account) = accounts::find_by_email(&self.db, email).await? else {
            // OWASP Authentication Cheat Sheet: spend the time a real check would.
            self.hasher.dummy_verify(password).await?;
            let detail = json!({ "reason": "unknown_email" });
            audit::insert_event(&self.db, origin.event("sign_in_failed", None, detail), now)
                .await?;
            return Err(SignInError::WrongCredentials);
        };

        self.expire_if_idle(&mut account, now).await?;

        // The lock is checked before the password (issue 12.1): while it runs, every
        // attempt gets the same answer after the same argon2 time, whatever the password,
        // and counts. Checking the password first told a guesser when a guess was right.
        if account.status() == Status::Active && is_locked(account.locked_until, now) {
            let until = account.locked_until.unwrap_or(now);
            self.spend_a_check(&account, password).await?;
            self.record_failure(&account, &origin, now, "wrong_password")
                .await?;
            return Err(SignInError::Locked { until });
        }

        let matched = match account.password_hash.clone() {
            Some(phc) => {
                self.hasher
                    .verify(password.clone(), PasswordHash::from_phc(phc))
                    .await?
            }
            None => {
                self.hasher.dummy_verify(password.clone()).await?;
                false
            }
        };
        if !matched {
            self.record_failure(&account, &origin, now, "wrong_password")
                .await?;
            return Err(SignInError::WrongCredentials);
        }

        let refusal = match account.status() {
            Status::Invited => Some(SignInError::NotActivated),
            Status::Disabled => Some(SignInError::Disabled),
            Status::Expired => Some(SignInError::Expired),
            // A running lock was answered before the password was checked.
            Status::Active => None,
        };
        if let Some(refusal) = refusal {
            let reason = refusal.metric_result();
            let detail = json!({ "reason": reason });
            let event = origin.event("sign_in_failed", Some(account.id), detail);
            audit::insert_event(&self.db, event, now).await?;
            return Err(refusal);
        }

        // With an authenticator app or a passkey the password is only the first step: the
        // failure counters stay until the second step succeeds (`sign_in_code`,
        // `passkeys`), so wrong codes, refused passkeys and wrong passwords share one
        // lockout and typing the password again buys no new guesses. One statement more
        // on every password sign-in, for both factors (tests/tests/statements.rs).
        let factors = passkeys::find_second_factors(&self.db, account.id).await?;
        if factors.is_any() {
            let challenge = self
                .issue_code_challenge(account.id, origin.client_id.as_ref())
                .await?;
            let next = match (factors.has_totp, factors.has_passkey) {
                (true, true) => "otp_or_passkey",
                (true, false) => "otp",
                _ => "passkey",
            };
            let detail = json!({ "next": next });
            let event = origin.event("password_accepted", Some(account.id), detail);
            audit::insert_event(&self.db, event, now).await?;
            return Ok(PasswordSignIn::CodeNeeded { account, challenge });
        }

        let rehashed = self.rehash_if_outdated(&account, password).await;
        let txn = self.begin().await?;
        let detail = json!({ "rehashed": rehashed.is_some() });
        // A rehash stores the same password under new parameters; it is not a new
        // password, so the history is left alone.
        let signed_in = accounts::update_signed_in(&txn, account.id, rehashed, now)
            .await?
            .ok_or_else(|| SignInError::Internal("account vanished during sign-in".into()))?;
        audit::insert_event(&txn, origin.event("sign_in", Some(account.id), detail), now).await?;
        commit(txn).await?;
        Ok(PasswordSignIn::Done(signed_in))
    }

    /// Spends the argon2 time of checking `password` against the account and discards
    /// the answer, so a refused attempt costs what any other costs.
    async fn spend_a_check(
        &self,
        account: &Account,
        password: PlainPassword,
    ) -> Result<(), SignInError> {
        match account.password_hash.clone() {
            Some(phc) => {
                self.hasher
                    .verify(password, PasswordHash::from_phc(phc))
                    .await?;
            }
            None => self.hasher.dummy_verify(password).await?,
        }
        Ok(())
    }

    /// A fresh hash when the stored one was made with other parameters. Skipped (and tried
    /// again next time) when hashing is busy or fails: the sign-in itself has succeeded.
    async fn rehash_if_outdated(
        &self,
        account: &Account,
        password: PlainPassword,
    ) -> Option<String> {
        let stored = PasswordHash::from_phc(account.password_hash.clone()?);
        if !needs_rehash(&stored, self.hasher.params()) {
            return None;
        }
        match self.hasher.hash(password).await {
            Ok(hash) => Some(hash.into_string()),
            Err(err) => {
                tracing::warn!(%err, account_id = account.id.get(), "rehash skipped");
                None
            }
        }
    }

    /// Counts a wrong password or code (`wrong` names which, for the audit trail),
    /// locking the account when the policy says so.
    pub(crate) async fn record_failure(
        &self,
        account: &Account,
        origin: &Origin,
        now: OffsetDateTime,
        wrong: &'static str,
    ) -> Result<(), AccountsError> {
        let txn = self.begin().await?;
        // Re-read with the row locked, so concurrent guesses on several instances each
        // count instead of overwriting one another.
        let current = accounts::find_by_id_for_update(&txn, account.id)
            .await?
            .unwrap_or_else(|| account.clone());
        let reason = if current.password_hash.is_none() {
            // Nothing to guess, so nothing to lock: a magic-link-only account must not be
            // lockable by strangers typing passwords at it.
            "no_password"
        } else if is_locked(current.locked_until, now) {
            // The lock is already running: the attempt counts (a guesser who keeps going
            // is locked again, for longer, as soon as this lock ends) but the lock stays.
            accounts::update_failed(
                &txn,
                current.id,
                u32::try_from(current.failed_attempts)
                    .unwrap_or(0)
                    .saturating_add(1),
                u32::try_from(current.lockouts).unwrap_or(0),
                current.locked_until,
                now,
            )
            .await?;
            "attempt_while_locked"
        } else {
            let outcome = after_failure(
                &self.config.lockout,
                u32::try_from(current.failed_attempts).unwrap_or(0),
                u32::try_from(current.lockouts).unwrap_or(0),
                now,
            );
            accounts::update_failed(
                &txn,
                current.id,
                outcome.failed_count,
                outcome.lockouts,
                outcome.locked_until,
                now,
            )
            .await?;
            if let Some(until) = outcome.locked_until {
                let detail = json!({ "until": rfc3339(until), "lockouts": outcome.lockouts });
                let locked = audit::NewEvent {
                    detail,
                    ..origin.event("account_locked", Some(current.id), json!({}))
                };
                audit::insert_event(&txn, locked, now).await?;
            }
            wrong
        };
        let failed = origin.event(
            "sign_in_failed",
            Some(current.id),
            json!({ "reason": reason }),
        );
        audit::insert_event(&txn, failed, now).await?;
        commit(txn).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use careid_policy::HashParams;
    use careid_store::{password_history, sessions};
    use time::Duration;

    use super::*;
    use crate::{
        Hasher,
        testing::{CHEAP, Fixture, PASSWORD, pw},
    };

    const EMAIL: &str = "ada@clinic.example";
    const WRONG: &str = "Tulip-Harbor-43";

    async fn fail(fx: &Fixture, times: usize) {
        for _ in 0..times {
            assert_eq!(
                fx.sign_in(EMAIL, WRONG).await,
                Err(SignInError::WrongCredentials)
            );
        }
    }

    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_email_give_the_same_error() {
        let fx = Fixture::new().await;
        fx.active(EMAIL, PASSWORD).await;
        let wrong_password = fx.sign_in(EMAIL, WRONG).await;
        let unknown_email = fx.sign_in("nobody@clinic.example", PASSWORD).await;
        assert_eq!(wrong_password, Err(SignInError::WrongCredentials));
        assert_eq!(unknown_email, wrong_password);
    }

    #[tokio::test]
    async fn the_right_password_signs_in_whatever_the_email_case() {
        let fx = Fixture::new().await;
        let created = fx.active(EMAIL, PASSWORD).await;
        fx.advance(Duration::days(3));
        let account = fx.sign_in(" ADA@clinic.example", PASSWORD).await.unwrap();
        assert_eq!(account.id, created.id);
        assert_eq!(account.activity_at, fx.clock_now());
        let events = audit::find_events(&fx.accounts.db, Some(account.id), None, 1)
            .await
            .unwrap();
        assert_eq!(events[0].kind, "sign_in");
        assert_eq!(events[0].client_id.as_ref(), Some(&ClientId::from("crm")));
        assert_eq!(events[0].ip.as_deref(), Some("192.0.2.7"));
    }

    #[tokio::test]
    async fn the_fourth_wrong_password_does_not_lock() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fail(&fx, 4).await;
        let stored = fx.account(account.id).await;
        assert_eq!(stored.failed_attempts, 4);
        assert_eq!(stored.locked_until, None);
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn the_fifth_wrong_password_locks_the_account() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fail(&fx, 5).await;
        let until = fx.clock_now() + Duration::minutes(15);
        assert_eq!(fx.account(account.id).await.locked_until, Some(until));
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_locked".to_string())
        );
        assert_eq!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::Locked { until })
        );
    }

    #[tokio::test]
    async fn a_locked_account_answers_locked_whatever_the_password_and_counts_each_attempt() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fail(&fx, 5).await;
        let locked = fx.account(account.id).await;
        let until = locked.locked_until.unwrap();
        for password in [WRONG, PASSWORD, WRONG] {
            assert_eq!(
                fx.sign_in(EMAIL, password).await,
                Err(SignInError::Locked { until })
            );
        }
        let after = fx.account(account.id).await;
        assert_eq!(after.failed_attempts, locked.failed_attempts + 3);
        assert_eq!(after.lockouts, 1);
        assert_eq!(after.locked_until, locked.locked_until);
    }

    #[tokio::test]
    async fn guesses_during_a_lock_lock_again_for_longer_as_soon_as_it_ends() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fail(&fx, 5).await;
        for _ in 0..5 {
            assert!(fx.sign_in(EMAIL, WRONG).await.is_err());
        }
        fx.advance(Duration::minutes(15));
        fail(&fx, 1).await;
        let relocked = fx.account(account.id).await;
        assert_eq!(relocked.lockouts, 2);
        assert_eq!(
            relocked.locked_until,
            Some(fx.clock_now() + Duration::minutes(30))
        );
    }

    #[tokio::test]
    async fn the_lock_ends_after_15_minutes() {
        let fx = Fixture::new().await;
        fx.active(EMAIL, PASSWORD).await;
        fail(&fx, 5).await;
        fx.advance(Duration::minutes(15) - Duration::SECOND);
        assert!(matches!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::Locked { .. })
        ));
        fx.advance(Duration::SECOND);
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn a_successful_sign_in_resets_the_failure_count() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fail(&fx, 4).await;
        let signed_in = fx.sign_in(EMAIL, PASSWORD).await.unwrap();
        assert_eq!(signed_in.failed_attempts, 0);
        fail(&fx, 4).await;
        assert_eq!(fx.account(account.id).await.locked_until, None);
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn an_account_idle_for_90_days_still_signs_in() {
        let fx = Fixture::new().await;
        fx.active(EMAIL, PASSWORD).await;
        fx.advance(Duration::days(90));
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn an_account_idle_for_91_days_is_expired_and_marked_so() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let session = fx.session(account.id).await;
        let refresh = fx.refresh_token(account.id).await;
        fx.advance(Duration::days(91));
        assert_eq!(fx.sign_in(EMAIL, PASSWORD).await, Err(SignInError::Expired));
        let stored = fx.account(account.id).await;
        assert_eq!(stored.status(), Status::Expired);
        assert_eq!(stored.expired_at, Some(fx.clock_now()));
        assert!(
            sessions::find_open_by_sid(&fx.accounts.db, &session.sid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(fx.is_revoked(&refresh).await);
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_expired".to_string())
        );
    }

    #[tokio::test]
    async fn an_expired_account_with_a_wrong_password_gives_wrong_credentials() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fx.advance(Duration::days(91));
        assert_eq!(
            fx.sign_in(EMAIL, WRONG).await,
            Err(SignInError::WrongCredentials)
        );
        // Marked all the same: expiry does not depend on who knocks.
        assert_eq!(fx.account(account.id).await.status(), Status::Expired);
    }

    #[tokio::test]
    async fn a_disabled_account_with_the_right_password_is_told_it_is_disabled() {
        let fx = Fixture::new().await;
        fx.with_status(EMAIL, Some(PASSWORD), Status::Disabled)
            .await;
        assert_eq!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::Disabled)
        );
        assert_eq!(
            fx.sign_in(EMAIL, WRONG).await,
            Err(SignInError::WrongCredentials)
        );
    }

    #[tokio::test]
    async fn an_invited_account_with_the_right_password_is_not_activated() {
        let fx = Fixture::new().await;
        fx.with_status(EMAIL, Some(PASSWORD), Status::Invited).await;
        assert_eq!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::NotActivated)
        );
        assert_eq!(
            fx.sign_in(EMAIL, WRONG).await,
            Err(SignInError::WrongCredentials)
        );
    }

    #[tokio::test]
    async fn an_account_without_a_password_gives_wrong_credentials_and_never_locks() {
        let fx = Fixture::new().await;
        let account = fx.with_status(EMAIL, None, Status::Invited).await;
        fail(&fx, 6).await;
        let stored = fx.account(account.id).await;
        assert_eq!(stored.failed_attempts, 0);
        assert_eq!(stored.locked_until, None);
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_replaced_without_a_history_entry() {
        let fx = Fixture::new().await;
        let old = HashParams {
            memory_kib: 2048,
            ..CHEAP
        };
        let old_hash = careid_policy::hash_password(&pw(PASSWORD), &old).unwrap();
        let account = fx.active(EMAIL, PASSWORD).await;
        accounts::update_password(
            &fx.accounts.db,
            account.id,
            old_hash.as_str(),
            fx.clock_now(),
        )
        .await
        .unwrap();
        fx.sign_in(EMAIL, PASSWORD).await.unwrap();
        let stored = fx.account(account.id).await.password_hash.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{stored}"
        );
        let history = password_history::find_recent(&fx.accounts.db, account.id, 10)
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn sign_in_is_busy_while_every_hashing_permit_is_held() {
        let hasher = Hasher::new(CHEAP, 1, StdDuration::from_millis(10));
        let fx = Fixture::with_hasher(hasher).await;
        fx.active(EMAIL, PASSWORD).await;
        let held = fx.accounts.hasher.hold_all_for_test().await;
        assert_eq!(fx.sign_in(EMAIL, PASSWORD).await, Err(SignInError::Busy));
        assert_eq!(
            fx.sign_in("nobody@clinic.example", PASSWORD).await,
            Err(SignInError::Busy)
        );
        drop(held);
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }
}
