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
use careid_store::{
    AccountId, ClientId,
    accounts::{self, Account, Status},
    audit,
    one_time_tokens::{self, NewToken, OneTimeToken},
    recovery_codes, totp_factors,
};
use serde_json::json;
use time::Duration;

use crate::{
    Accounts, AccountsError, SignInError,
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
    /// names, or one of its recovery codes (each works once). The account id on success;
    /// the challenge is then used up and the sign-in recorded as a password one is.
    pub async fn sign_in_code(
        &self,
        challenge: &str,
        code: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<AccountId, SignInError> {
        let origin = Origin {
            client_id: client_id.cloned(),
            ip,
        };
        let outcome = self.check_code(challenge, code, &origin).await;
        count_sign_in("otp", &outcome, SignInError::metric_result);
        outcome
    }

    async fn check_code(
        &self,
        challenge: &str,
        code: &str,
        origin: &Origin,
    ) -> Result<AccountId, SignInError> {
        let now = self.clock.now();
        let (token, account) = self.waiting_sign_in(challenge).await?;
        if is_locked(account.locked_until, now) {
            let until = account.locked_until.unwrap_or(now);
            self.record_failure(&account, origin, now, "wrong_code")
                .await?;
            return Err(SignInError::Locked { until });
        }
        if let Some(plain) = recovery::normalise(code) {
            return self
                .check_recovery_code(&account, &token, &plain, origin)
                .await;
        }
        let factor = totp_factors::find_by_account(&self.db, account.id)
            .await?
            .filter(|f| f.is_confirmed())
            .ok_or(SignInError::CodeTimedOut)?;
        let secret = self
            .open_totp_secret(account.id, &factor.sealed_secret)
            .await?;
        let Some(step) = totp::matching_step(&secret, code, now, factor.last_step) else {
            self.record_failure(&account, origin, now, "wrong_code")
                .await?;
            return Err(SignInError::CodeWrong);
        };
        let txn = self.begin().await?;
        // The statement's WHERE is the replay check: of two requests with one code, one
        // records its step and the other finds it used.
        if !totp_factors::update_last_step(&txn, account.id, step).await? {
            drop(txn);
            self.record_failure(&account, origin, now, "code_reused")
                .await?;
            return Err(SignInError::CodeWrong);
        }
        self.finish_code_sign_in(txn, &account, &token, origin, "otp")
            .await
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

    async fn check_recovery_code(
        &self,
        account: &Account,
        token: &OneTimeToken,
        plain: &str,
        origin: &Origin,
    ) -> Result<AccountId, SignInError> {
        let now = self.clock.now();
        let digest = one_time::digest(plain);
        let txn = self.begin().await?;
        if !recovery_codes::take_code(&txn, account.id, &digest, now).await? {
            drop(txn);
            self.record_failure(account, origin, now, "wrong_code")
                .await?;
            return Err(SignInError::CodeWrong);
        }
        self.finish_code_sign_in(txn, account, token, origin, "recovery_code")
            .await
    }

    /// Uses up the challenge and records the sign-in, in `txn` with the code's (or the
    /// passkey's) use.
    pub(crate) async fn finish_code_sign_in(
        &self,
        txn: sea_orm::DatabaseTransaction,
        account: &Account,
        token: &OneTimeToken,
        origin: &Origin,
        factor: &'static str,
    ) -> Result<AccountId, SignInError> {
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
        Ok(account.id)
    }
}
