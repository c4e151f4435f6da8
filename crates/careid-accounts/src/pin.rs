//! Staff-issued sign-in PINs (DESIGN.md, Identity model, "PIN"): a person of the client
//! portal calls the office, staff issue a 6-digit PIN for her account, and she signs in
//! with her email and that PIN. The one place of the PIN rules, for the CLI, the PIN page
//! and the admin API alike.
//!
//! - A PIN is printed once and stored only as an HMAC under the installation's PIN key
//!   ([`careid_policy::one_time::pin_digest`]): 10^6 values cannot hide behind a bare hash.
//! - It works `lifecycle.pin_minutes` unless staff say otherwise, never longer than
//!   `lifecycle.pin_max_minutes`; once; and a newer PIN voids the older.
//! - The person types her email, so the attempts are counted on the account's one live
//!   PIN: every guess takes an attempt in one conditional UPDATE before it is compared,
//!   and the guess that spends the last of `lifecycle.code_attempts` voids the PIN, so no
//!   number of concurrent guesses gets more comparisons than the limit.
//! - Unknown email, wrong PIN, expired, used or void PIN are one answer, so the page never
//!   tells which emails have accounts or PINs.
//! - An invited account that signs in with a PIN becomes active: staff who issue a PIN
//!   have spoken to the person, which is what the activation email stands for.

use std::fmt;

use careid_policy::{is_inactive_expired, one_time};
use careid_store::{
    AccountId, ClientId,
    accounts::{self, Account, Status},
    audit,
    one_time_tokens::{self, NewToken},
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{
    AccountsError, Lifecycle, SignInError,
    invitation::void_invitation_links,
    lifecycle::CODE_DRAWS,
    service::{commit, event, rfc3339},
};

/// The token purpose PINs are stored under.
pub(crate) const PIN: &str = "pin";

/// The `install_secrets` name of the key PIN digests are made with.
const PIN_KEY: &str = "pin_key";

/// A PIN in plain text: shown once to staff, never stored, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainPin(String);

impl PlainPin {
    /// The six digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainPin(***)")
    }
}

/// A PIN just issued: the digits to tell the person, and until when they work.
#[derive(Debug, Clone)]
pub struct IssuedPin {
    /// The PIN itself.
    pub pin: PlainPin,
    /// The account it signs in.
    pub account_id: AccountId,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl Lifecycle {
    /// Issues a new PIN for the account with `email`, working for `expires` (the
    /// configured default without one), voiding any older PIN of the account. `client`
    /// is the portal it is meant for, kept for the audit trail.
    pub async fn issue_pin(
        &self,
        email: &str,
        expires: Option<Duration>,
        client: Option<&ClientId>,
    ) -> Result<IssuedPin, AccountsError> {
        let lifetime = expires.unwrap_or_else(|| self.config.pin());
        if lifetime < Duration::MINUTE || lifetime > self.config.pin_max() {
            return Err(AccountsError::PinLifetimeOutOfRange {
                max_minutes: self.config.pin_max().whole_minutes(),
            });
        }
        let account = accounts::find_by_email(&self.accounts.db, email)
            .await?
            .ok_or(AccountsError::UnknownAccount)?;
        if matches!(account.status(), Status::Disabled | Status::Expired) {
            return Err(AccountsError::WrongStatus(account.status()));
        }
        let key = self.accounts.install_secret(PIN_KEY).await?;
        let now = self.accounts.clock.now();
        let expires_at = now + lifetime;
        let txn = self.accounts.begin().await?;
        // Holds the account (its row on PostgreSQL, the write lock on SQLite), so two
        // issues for one account cannot both leave a live PIN.
        accounts::find_by_id_for_update(&txn, account.id).await?;
        let older = one_time_tokens::find_live(&txn, account.id, PIN, now).await?;
        for _ in 0..CODE_DRAWS {
            let pin = one_time::new_code();
            let digest = one_time::pin_digest(&key, account.id.get(), &pin);
            // An old PIN of this account may share the digest (unique); looked for,
            // not caught, because a failed statement aborts a PostgreSQL transaction.
            if one_time_tokens::find_by_digest(&txn, &digest, PIN)
                .await?
                .is_some()
            {
                continue;
            }
            let new = NewToken {
                digest,
                account_id: account.id,
                purpose: PIN,
                client_id: client.cloned(),
                binding_digest: None,
                expires_at,
            };
            one_time_tokens::insert_token(&txn, new, true, now).await?;
            if older.is_some() {
                let voided = audit::NewEvent {
                    client_id: client.cloned(),
                    detail: json!({ "reason": "superseded" }),
                    ..event("pin_voided", account.id)
                };
                audit::insert_event(&txn, voided, now).await?;
            }
            let issued = audit::NewEvent {
                client_id: client.cloned(),
                detail: json!({ "expires_at": rfc3339(expires_at) }),
                ..event("pin_issued", account.id)
            };
            audit::insert_event(&txn, issued, now).await?;
            commit(txn).await?;
            return Ok(IssuedPin {
                pin: PlainPin(pin),
                account_id: account.id,
                expires_at,
            });
        }
        Err(AccountsError::Store(careid_store::StoreError::Duplicate))
    }

    /// Voids the live PIN of the account with `email`. `false` when it had none.
    pub async fn void_pin(&self, email: &str) -> Result<bool, AccountsError> {
        let account = accounts::find_by_email(&self.accounts.db, email)
            .await?
            .ok_or(AccountsError::UnknownAccount)?;
        let now = self.accounts.clock.now();
        let txn = self.accounts.begin().await?;
        let Some(live) = one_time_tokens::find_live(&txn, account.id, PIN, now).await? else {
            return Ok(false);
        };
        if !one_time_tokens::take_token(&txn, live.id, now).await? {
            return Ok(false);
        }
        let voided = audit::NewEvent {
            detail: json!({ "reason": "staff" }),
            ..event("pin_voided", account.id)
        };
        audit::insert_event(&txn, voided, now).await?;
        commit(txn).await?;
        Ok(true)
    }

    /// Signs in with an email and a PIN, for `client_id` from `ip`. On success the PIN is
    /// used up, the inactivity clock restarts and an invited account becomes active.
    pub async fn sign_in_pin(
        &self,
        email: &str,
        pin: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<Account, SignInError> {
        let outcome = self.check_pin(email, pin, client_id, ip).await;
        crate::sign_in::count_sign_in("pin", &outcome, SignInError::metric_result);
        outcome
    }

    async fn check_pin(
        &self,
        email: &str,
        pin: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<Account, SignInError> {
        let accounts = &self.accounts;
        let db = &accounts.db;
        let now = accounts.clock.now();
        let with_origin = |new: audit::NewEvent| audit::NewEvent {
            client_id: client_id.cloned(),
            ip: ip.clone(),
            ..new
        };
        let failed = |account_id: Option<AccountId>, detail: serde_json::Value| {
            with_origin(audit::NewEvent {
                kind: "pin_failed",
                account_id,
                detail,
                ..Default::default()
            })
        };
        // An address guessing at many accounts' PINs is stopped like one guessing
        // passwords, by the same `[accounts.lockout]` window.
        if let Some(ip) = &ip {
            let rules = &accounts.config.lockout;
            let recent =
                audit::count_from_ip(db, "pin_failed", ip, now - rules.ip_window()).await?;
            if rules.is_ip_throttled(recent) {
                let detail = json!({ "reason": "address_throttled", "recent_failures": recent });
                audit::insert_event(db, failed(None, detail), now).await?;
                return Err(SignInError::TooManyAttempts {
                    retry_after_minutes: rules.ip_window_minutes,
                });
            }
        }
        let Some(mut account) = accounts::find_by_email(db, email).await? else {
            let detail = json!({ "reason": "unknown_email" });
            audit::insert_event(db, failed(None, detail), now).await?;
            return Err(SignInError::WrongCredentials);
        };
        let Some(stored) = one_time_tokens::find_live(db, account.id, PIN, now).await? else {
            let detail = json!({ "reason": "no_live_pin" });
            audit::insert_event(db, failed(Some(account.id), detail), now).await?;
            return Err(SignInError::WrongCredentials);
        };
        let rules = self.config.one_time_rules();
        let Some(attempts) =
            one_time_tokens::take_attempt(db, stored.id, rules.code_attempts, now).await?
        else {
            let detail = json!({ "reason": "attempts_spent", "attempts": stored.attempts });
            audit::insert_event(db, failed(Some(account.id), detail), now).await?;
            return Err(SignInError::WrongCredentials);
        };
        let key = accounts.install_secret(PIN_KEY).await?;
        let pin = pin.trim();
        let is_right = one_time::is_code_shaped(pin)
            && one_time::digests_match(
                &one_time::pin_digest(&key, account.id.get(), pin),
                &stored.digest,
            );
        if !is_right {
            let detail = json!({ "reason": "wrong_pin", "attempts": attempts });
            audit::insert_event(db, failed(Some(account.id), detail), now).await?;
            let spent = u32::try_from(attempts).unwrap_or(u32::MAX);
            if one_time::attempts_exhausted(spent, &rules)
                && one_time_tokens::take_token(db, stored.id, now).await?
            {
                let voided = with_origin(audit::NewEvent {
                    detail: json!({ "reason": "attempts_spent", "attempts": attempts }),
                    ..event("pin_voided", account.id)
                });
                audit::insert_event(db, voided, now).await?;
            }
            return Err(SignInError::WrongCredentials);
        }

        // The account's standing is told only to someone who typed its PIN.
        if account.status() == Status::Active
            && is_inactive_expired(
                account.activity_at,
                now,
                accounts.config.inactivity_expiry_days,
            )
        {
            accounts.expire(&account, "sign_in", now).await?;
            account.status = Status::Expired.as_str().to_owned();
        }
        let refusal = match account.status() {
            Status::Disabled => Some(SignInError::Disabled),
            Status::Expired => Some(SignInError::Expired),
            Status::Active | Status::Invited => None,
        };
        if let Some(refusal) = refusal {
            let reason = refusal.metric_result();
            audit::insert_event(
                db,
                failed(Some(account.id), json!({ "reason": reason })),
                now,
            )
            .await?;
            return Err(refusal);
        }

        let txn = accounts.begin().await?;
        // Single use: of two browsers with the right PIN, one wins this statement.
        if !one_time_tokens::take_token(&txn, stored.id, now).await? {
            drop(txn);
            let detail = json!({ "reason": "used" });
            audit::insert_event(db, failed(Some(account.id), detail), now).await?;
            return Err(SignInError::WrongCredentials);
        }
        let was_invited = account.status() == Status::Invited;
        if was_invited {
            accounts::update_status(&txn, account.id, Status::Active, now).await?;
            accounts::update_invitation_state(&txn, account.id, "accepted", now).await?;
            let activated = with_origin(audit::NewEvent {
                detail: json!({ "by": "pin" }),
                ..event("account_activated", account.id)
            });
            audit::insert_event(&txn, activated, now).await?;
            void_invitation_links(&txn, account.id, now).await?;
        }
        let signed_in = accounts::update_signed_in(&txn, account.id, None, now)
            .await?
            .ok_or_else(|| SignInError::Internal("account vanished during sign-in".into()))?;
        let used = with_origin(audit::NewEvent {
            detail: json!({ "activated": was_invited }),
            ..event("pin_used", account.id)
        });
        audit::insert_event(&txn, used, now).await?;
        commit(txn).await?;
        Ok(signed_in)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use careid_mail::MailConfig;

    use super::*;
    use crate::{
        lifecycle::testing::lifecycle,
        testing::{Fixture, PASSWORD},
    };

    const EMAIL: &str = "ada@clinic.example";

    /// PINs send no mail; the outbox is never written.
    fn pins(fx: &Fixture) -> Arc<Lifecycle> {
        lifecycle(fx, &MailConfig::outbox(std::env::temp_dir()))
    }

    #[tokio::test]
    async fn a_pin_is_stored_only_as_a_keyed_digest() {
        let fx = Fixture::new().await;
        let ada = fx.active(EMAIL, PASSWORD).await;
        let lifecycle = pins(&fx);
        let issued = lifecycle.issue_pin(EMAIL, None, None).await.unwrap();
        assert_eq!(format!("{:?}", issued.pin), "PlainPin(***)");
        let now = fx.clock_now();
        let stored = one_time_tokens::find_live(&fx.accounts.db, ada.id, PIN, now)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(stored.digest, one_time::digest(issued.pin.as_str()));
        assert_ne!(stored.digest, issued.pin.as_str());
        assert_eq!(stored.expires_at, now + Duration::minutes(15));
    }

    #[tokio::test]
    async fn a_pin_may_work_from_a_minute_to_the_configured_bound() {
        let fx = Fixture::new().await;
        fx.active(EMAIL, PASSWORD).await;
        let lifecycle = pins(&fx);
        let max = Duration::minutes(24 * 60);
        assert!(lifecycle.issue_pin(EMAIL, Some(max), None).await.is_ok());
        for bad in [max + Duration::MINUTE, Duration::SECOND] {
            assert!(matches!(
                lifecycle.issue_pin(EMAIL, Some(bad), None).await,
                Err(AccountsError::PinLifetimeOutOfRange { max_minutes: 1440 })
            ));
        }
    }

    #[tokio::test]
    async fn a_disabled_account_gets_no_pin() {
        let fx = Fixture::new().await;
        fx.with_status(EMAIL, Some(PASSWORD), Status::Disabled)
            .await;
        assert!(matches!(
            pins(&fx).issue_pin(EMAIL, None, None).await,
            Err(AccountsError::WrongStatus(Status::Disabled))
        ));
    }
}
