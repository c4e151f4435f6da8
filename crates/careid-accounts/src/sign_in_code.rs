//! The second step of a password sign-in for an account with an authenticator app
//! (issue 17): after a correct password, `Accounts::sign_in_password` issues a short-lived
//! challenge (kept in the browser, stored as a digest) and the person types a code from
//! the app. Code rules are [`careid_policy::totp`]'s.
//!
//! - Wrong codes count towards the same lockout as wrong passwords, and a correct
//!   password does not reset that count for such an account (`sign_in_password`), so
//!   typing the password again buys no new guesses.
//! - A code works once: its time step is recorded in one conditional UPDATE, and a code
//!   of that step or an earlier one is refused (RFC 6238 §5.2).
//! - The challenge works `CHALLENGE_MINUTES` and once; it only names the account.

use std::fmt;

use careid_policy::{is_locked, one_time, recovery, totp};
use careid_store::Tx;
use careid_store::{
    AccountId, ClientId,
    accounts::{self, Account, Status},
    audit,
    one_time_tokens::{self, NewToken, OneTimeToken},
    recovery_codes,
    sessions::Session,
    totp_factors,
};
use serde_json::json;
use time::Duration;

use crate::{
    Accounts, AccountsError, SessionSecret, SignInError,
    service::commit,
    sign_in::{Origin, count_sign_in},
};

/// The token purpose challenges are stored under.
const CHALLENGE: &str = "sign_in_code";
/// How long the person has to type a code after her password.
const CHALLENGE_MINUTES: i64 = 10;

/// The challenge of a sign-in waiting for a code: kept in the browser's cookie, stored
/// only as a digest, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge as the cookie carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeChallenge(***)")
    }
}

/// A second step that signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSignIn {
    /// The account signed in to.
    pub account_id: AccountId,
    /// When a recovery code was used instead of the app's code: how many of the set are
    /// still unused. Its owner is told by mail ([`crate::Notice::RecoveryCodeUsed`]).
    pub recovery_codes_left: Option<u64>,
}

/// A step-up that raised a session.
#[derive(Debug)]
pub struct StepUp {
    /// The session's new cookie secret.
    pub secret: SessionSecret,
    /// As in [`CodeSignIn`]: the unused recovery codes, when one was used.
    pub recovery_codes_left: Option<u64>,
}

impl Accounts {
    /// After a correct password for `account_id`, whose account has an authenticator
    /// app: the challenge of the code step. A newer one voids the older.
    pub(crate) async fn issue_code_challenge(
        &self,
        account_id: AccountId,
        client_id: Option<&ClientId>,
    ) -> Result<CodeChallenge, AccountsError> {
        let challenge = one_time::new_token();
        let now = self.clock.now();
        let new = NewToken {
            digest: one_time::digest(&challenge),
            account_id,
            purpose: CHALLENGE,
            client_id: client_id.cloned(),
            binding_digest: None,
            expires_at: now + Duration::minutes(CHALLENGE_MINUTES),
        };
        one_time_tokens::insert_token(&self.db, new, true, now).await?;
        Ok(CodeChallenge(challenge))
    }

    /// The second step: `code` from the authenticator app of the account `challenge`
    /// names, or one of its recovery codes (each works once). On success the challenge
    /// is used up and the sign-in recorded as a password one is.
    pub async fn sign_in_code(
        &self,
        challenge: &str,
        code: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<CodeSignIn, SignInError> {
        let origin = Origin::new(client_id, ip);
        let outcome = self.check_code(challenge, code, &origin).await;
        count_sign_in("otp", &outcome, SignInError::metric_result);
        outcome
    }

    async fn check_code(
        &self,
        challenge: &str,
        code: &str,
        origin: &Origin,
    ) -> Result<CodeSignIn, SignInError> {
        let (token, account) = self.waiting_sign_in(challenge).await?;
        let (txn, used) = self.use_code(&account, code, origin).await?;
        self.finish_code_sign_in(txn, &account, &token, origin, used.factor())
            .await?;
        Ok(CodeSignIn {
            account_id: account.id,
            recovery_codes_left: used.recovery_codes_left(),
        })
    }

    /// The sign-in waiting for its second step under `challenge`, and its account, which
    /// must still be active; else `CodeTimedOut`.
    pub(crate) async fn waiting_sign_in(
        &self,
        challenge: &str,
    ) -> Result<(OneTimeToken, Account), SignInError> {
        let now = self.clock.now();
        let digest = one_time::digest(challenge);
        let token = one_time_tokens::find_by_digest(&self.db, &digest, CHALLENGE)
            .await?
            .filter(|t| one_time::is_usable(t.expires_at, t.used_at, now))
            .ok_or(SignInError::CodeTimedOut)?;
        let account = accounts::find_by_id(&self.db, token.account_id)
            .await?
            .ok_or(SignInError::CodeTimedOut)?;
        if account.status() != Status::Active {
            return Err(SignInError::CodeTimedOut);
        }
        Ok((token, account))
    }

    /// Checks `code` for `account`: a current code of its authenticator app, or one of its
    /// recovery codes. On success, an open transaction in which the code's use is
    /// recorded (the caller finishes and commits it), and which kind of code it was. A
    /// wrong code, or any code while the account is locked, counts towards the lockout.
    async fn use_code(
        &self,
        account: &Account,
        code: &str,
        origin: &Origin,
    ) -> Result<(Tx, UsedCode), SignInError> {
        let now = self.clock.now();
        if is_locked(account.locked_until, now) {
            let until = account.locked_until.unwrap_or(now);
            self.record_failure(account, origin, now, "wrong_code")
                .await?;
            return Err(SignInError::Locked { until });
        }
        if let Some(plain) = recovery::normalise(code) {
            let digest = one_time::digest(&plain);
            let txn = self.begin().await?;
            if !recovery_codes::take_code(&txn, account.id, &digest, now).await? {
                drop(txn);
                self.record_failure(account, origin, now, "wrong_code")
                    .await?;
                return Err(SignInError::CodeWrong);
            }
            let left = recovery_codes::count_unused(&txn, account.id).await?;
            return Ok((txn, UsedCode::Recovery { left }));
        }
        let factor = totp_factors::find_by_account(&self.db, account.id)
            .await?
            .filter(|f| f.is_confirmed())
            .ok_or(SignInError::CodeTimedOut)?;
        let secret = self
            .open_totp_secret(account.id, &factor.sealed_secret)
            .await?;
        let Some(step) = totp::matching_step(&secret, code, now, factor.last_step) else {
            self.record_failure(account, origin, now, "wrong_code")
                .await?;
            return Err(SignInError::CodeWrong);
        };
        let txn = self.begin().await?;
        // The statement's WHERE is the replay check: of two requests with one code, one
        // records its step and the other finds it used.
        if !totp_factors::update_last_step(&txn, account.id, step).await? {
            drop(txn);
            self.record_failure(account, origin, now, "code_reused")
                .await?;
            return Err(SignInError::CodeWrong);
        }
        Ok((txn, UsedCode::App))
    }

    /// Step-up (a client's or the account's `require_mfa`, or OIDC Core §3.1.2.1
    /// `acr_values`): the person of the live `session`, signed in without a second
    /// factor, types a code of her authenticator app (or a recovery code) and is not asked
    /// for her password again. The code counts as in [`Self::sign_in_code`] (one use,
    /// wrong codes towards the lockout); a right one raises the session in the same
    /// transaction (`amr` gains `otp` and `mfa`, the cookie a new secret, the `sid` and
    /// `auth_time` stay; see `session::raise`), returning the new cookie secret. Audited
    /// as `step_up`.
    pub async fn step_up(
        &self,
        session: &Session,
        code: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<StepUp, SignInError> {
        let origin = Origin::new(client_id, ip);
        let outcome = self.check_step_up(session, code, &origin).await;
        count_sign_in("step_up", &outcome, SignInError::metric_result);
        outcome
    }

    async fn check_step_up(
        &self,
        session: &Session,
        code: &str,
        origin: &Origin,
    ) -> Result<StepUp, SignInError> {
        let now = self.clock.now();
        let account = accounts::find_by_id(&self.db, session.account_id)
            .await?
            .filter(|a| a.status() == Status::Active)
            .ok_or(SignInError::CodeTimedOut)?;
        let (txn, used) = self.use_code(&account, code, origin).await?;
        let Some(secret) = crate::session::raise(&txn, session).await? else {
            return Err(SignInError::CodeTimedOut);
        };
        accounts::update_signed_in(&txn, account.id, None, now)
            .await?
            .ok_or_else(|| SignInError::Internal("account vanished during step-up".into()))?;
        let detail = json!({ "factor": used.factor(), "sid": session.sid });
        audit::insert_event(&txn, origin.event("step_up", Some(account.id), detail), now).await?;
        commit(txn).await?;
        Ok(StepUp {
            secret,
            recovery_codes_left: used.recovery_codes_left(),
        })
    }

    /// Uses up the challenge and records the sign-in, in `txn` with the code's (or the
    /// passkey's) use.
    pub(crate) async fn finish_code_sign_in(
        &self,
        txn: Tx,
        account: &Account,
        token: &OneTimeToken,
        origin: &Origin,
        factor: &'static str,
    ) -> Result<(), SignInError> {
        let now = self.clock.now();
        if !one_time_tokens::take_token(&txn, token.id, now).await? {
            return Err(SignInError::CodeTimedOut);
        }
        accounts::update_signed_in(&txn, account.id, None, now)
            .await?
            .ok_or_else(|| SignInError::Internal("account vanished during sign-in".into()))?;
        let event = origin.event("sign_in", Some(account.id), json!({ "factor": factor }));
        audit::insert_event(&txn, event, now).await?;
        commit(txn).await?;
        Ok(())
    }
}

/// Which kind of code a person typed, once it has been accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UsedCode {
    /// A current code of her authenticator app.
    App,
    /// One of her recovery codes; `left` of the set are still unused.
    Recovery { left: u64 },
}

impl UsedCode {
    /// The `factor` of the audit event.
    fn factor(self) -> &'static str {
        match self {
            Self::App => "otp",
            Self::Recovery { .. } => "recovery_code",
        }
    }

    fn recovery_codes_left(self) -> Option<u64> {
        match self {
            Self::App => None,
            Self::Recovery { left } => Some(left),
        }
    }
}
