//! Administrator actions on an account's status (disable, enable, reactivate) and the
//! inactivity sweep that `careid-server` runs as a background job. The admin API and its
//! authorisation are `careid-server`'s.

use careid_policy::is_inactive_expired;
use careid_store::{
    AccountId, Tx,
    accounts::{self, Account, Status},
    audit,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{
    Accounts, AccountsError,
    service::{commit, event, revoke_everything, rfc3339},
};

/// The account, read in `txn` with its row locked (PostgreSQL; SQLite's one writer
/// holds the lock already), so the status checked is the one the writes change.
async fn locked(txn: &Tx, id: AccountId) -> Result<Account, AccountsError> {
    accounts::find_by_id_for_update(txn, id)
        .await?
        .ok_or(AccountsError::UnknownAccount)
}

impl Accounts {
    /// Disables an invited, active or expired account. Its sessions end and its refresh
    /// tokens are revoked at once, so it stops working everywhere, not just at sign-in.
    pub async fn disable(&self, id: AccountId) -> Result<Account, AccountsError> {
        let now = self.clock.now();
        let txn = self.begin().await?;
        let account = locked(&txn, id).await?;
        if account.status() == Status::Disabled {
            return Err(AccountsError::WrongStatus(Status::Disabled));
        }
        accounts::update_status(&txn, account.id, Status::Disabled, now).await?;
        revoke_everything(&txn, account.id, now).await?;
        let disabled = audit::NewEvent {
            detail: json!({ "previous": account.status }),
            ..event("account_disabled", account.id)
        };
        audit::insert_event(&txn, disabled, now).await?;
        commit(txn).await?;
        self.find_account(account.id).await
    }

    /// Enables a disabled account: active again, or invited again when its invitation was
    /// never accepted. The inactivity clock restarts, as the administrator has just vouched
    /// for the account; days spent disabled are not the person's inactivity.
    pub async fn enable(&self, id: AccountId) -> Result<Account, AccountsError> {
        let now = self.clock.now();
        let txn = self.begin().await?;
        let account = locked(&txn, id).await?;
        if account.status() != Status::Disabled {
            return Err(AccountsError::WrongStatus(account.status()));
        }
        let restored = if is_invitation_pending(&account.invitation_state) {
            Status::Invited
        } else {
            Status::Active
        };
        // `update_status` stamps nothing for `Invited`; clear `disabled_at` through `Active`.
        accounts::update_status(&txn, account.id, Status::Active, now).await?;
        if restored == Status::Invited {
            accounts::update_status(&txn, account.id, Status::Invited, now).await?;
        }
        accounts::update_activity(&txn, account.id, now).await?;
        let enabled = audit::NewEvent {
            detail: json!({ "status": restored.as_str() }),
            ..event("account_enabled", account.id)
        };
        audit::insert_event(&txn, enabled, now).await?;
        commit(txn).await?;
        self.find_account(account.id).await
    }

    /// Reactivates an expired account: active again, with a fresh inactivity period.
    pub async fn reactivate(&self, id: AccountId) -> Result<Account, AccountsError> {
        let now = self.clock.now();
        let txn = self.begin().await?;
        let account = locked(&txn, id).await?;
        if account.status() != Status::Expired {
            return Err(AccountsError::WrongStatus(account.status()));
        }
        accounts::update_status(&txn, account.id, Status::Active, now).await?;
        accounts::update_activity(&txn, account.id, now).await?;
        audit::insert_event(&txn, event("account_reactivated", account.id), now).await?;
        commit(txn).await?;
        self.find_account(account.id).await
    }

    /// Unlocks an account that too many wrong passwords locked: the lock and the
    /// failed-attempt counters are cleared, so the next wrong password starts counting
    /// from zero. Unlocking an account that is not locked changes nothing but is not an
    /// error (an administrator's retry must not fail).
    pub async fn unlock(&self, id: AccountId) -> Result<Account, AccountsError> {
        let now = self.clock.now();
        let txn = self.begin().await?;
        let account = locked(&txn, id).await?;
        accounts::update_unlocked(&txn, account.id, now).await?;
        let unlocked = audit::NewEvent {
            detail: json!({
                "was_locked": careid_policy::is_locked(account.locked_until, now),
                "failed_attempts": account.failed_attempts,
            }),
            ..event("account_unlocked", account.id)
        };
        audit::insert_event(&txn, unlocked, now).await?;
        commit(txn).await?;
        self.find_account(account.id).await
    }

    /// Expires every active account idle for longer than the limit, revoking its sessions
    /// and refresh tokens. Returns how many expired. Sign-in applies the same rule to the
    /// one account it meets, so the sweep only has to keep the status honest for admins.
    pub async fn sweep_inactive(&self) -> Result<usize, AccountsError> {
        let now = self.clock.now();
        let days = self.config.inactivity_expiry_days;
        let cutoff = now - Duration::days(i64::from(days));
        let mut expired = 0;
        for account in accounts::find_idle_since(&self.db, cutoff).await? {
            // The query is the index's approximation; the policy has the last word.
            if is_inactive_expired(account.activity_at, now, days) {
                self.expire(&account, "sweep", now).await?;
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Marks an account expired for inactivity and revokes everything it holds, in one
    /// transaction. `by` says who noticed (`sign_in`, `sweep`).
    pub(crate) async fn expire(
        &self,
        account: &Account,
        by: &'static str,
        now: OffsetDateTime,
    ) -> Result<(), AccountsError> {
        let txn = self.begin().await?;
        accounts::update_status(&txn, account.id, Status::Expired, now).await?;
        revoke_everything(&txn, account.id, now).await?;
        let expired = audit::NewEvent {
            detail: json!({ "by": by, "last_activity": rfc3339(account.activity_at) }),
            ..event("account_expired", account.id)
        };
        audit::insert_event(&txn, expired, now).await?;
        commit(txn).await
    }

    /// At a sign-in, by whatever method: expiry is a fact about the account whoever is
    /// knocking, so an active account idle past the limit is expired now, and `account`
    /// says so; whether the person hears about it depends on the credential.
    pub(crate) async fn expire_if_idle(
        &self,
        account: &mut Account,
        now: OffsetDateTime,
    ) -> Result<(), AccountsError> {
        if account.status() == Status::Active
            && is_inactive_expired(account.activity_at, now, self.config.inactivity_expiry_days)
        {
            self.expire(account, "sign_in", now).await?;
            account.status = Status::Expired.as_str().to_owned();
        }
        Ok(())
    }
}

/// Whether an invitation went out (or is due to) and was never accepted.
fn is_invitation_pending(state: &str) -> bool {
    crate::lifecycle::PENDING_INVITATION.contains(&state)
}

#[cfg(test)]
mod tests {
    use careid_store::sessions;

    use super::*;
    use crate::{
        SignInError,
        testing::{Fixture, PASSWORD},
    };

    const EMAIL: &str = "ada@clinic.example";

    #[tokio::test]
    async fn disabling_ends_every_session_and_revokes_every_refresh_token() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let session = fx.session(account.id).await;
        let refresh = fx.refresh_token(account.id).await;
        let disabled = fx.accounts.disable(fx.id_of(EMAIL).await).await.unwrap();
        assert_eq!(disabled.status(), Status::Disabled);
        assert_eq!(disabled.disabled_at, Some(fx.clock_now()));
        assert!(
            sessions::find_open_by_sid(&fx.accounts.db, &session.sid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(fx.is_revoked(&refresh).await);
        assert_eq!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::Disabled)
        );
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_disabled".to_string())
        );
    }

    #[tokio::test]
    async fn an_enabled_account_signs_in_again() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fx.accounts.disable(fx.id_of(EMAIL).await).await.unwrap();
        fx.advance(Duration::days(120));
        let enabled = fx.accounts.enable(fx.id_of(EMAIL).await).await.unwrap();
        assert_eq!(enabled.status(), Status::Active);
        assert_eq!(enabled.disabled_at, None);
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_enabled".to_string())
        );
    }

    #[tokio::test]
    async fn an_enabled_invitee_is_invited_again() {
        let fx = Fixture::new().await;
        fx.with_status(EMAIL, None, Status::Invited).await;
        fx.accounts.disable(fx.id_of(EMAIL).await).await.unwrap();
        let enabled = fx.accounts.enable(fx.id_of(EMAIL).await).await.unwrap();
        assert_eq!(enabled.status(), Status::Invited);
        assert_eq!(enabled.disabled_at, None);
    }

    #[tokio::test]
    async fn each_action_refuses_an_account_it_does_not_apply_to() {
        let fx = Fixture::new().await;
        fx.active(EMAIL, PASSWORD).await;
        assert!(matches!(
            fx.accounts.enable(fx.id_of(EMAIL).await).await,
            Err(AccountsError::WrongStatus(Status::Active))
        ));
        assert!(matches!(
            fx.accounts.reactivate(fx.id_of(EMAIL).await).await,
            Err(AccountsError::WrongStatus(Status::Active))
        ));
        fx.accounts.disable(fx.id_of(EMAIL).await).await.unwrap();
        assert!(matches!(
            fx.accounts.disable(fx.id_of(EMAIL).await).await,
            Err(AccountsError::WrongStatus(Status::Disabled))
        ));
        assert!(matches!(
            fx.accounts
                .disable(careid_store::AccountId::new(999_999))
                .await,
            Err(AccountsError::UnknownAccount)
        ));
    }

    #[tokio::test]
    async fn an_unlocked_account_signs_in_at_once_and_its_count_starts_again() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let is_locked = |outcome: &Result<Account, SignInError>| {
            matches!(outcome, Err(SignInError::Locked { .. }))
        };
        let mut locked = false;
        for _ in 0..10 {
            if is_locked(&fx.sign_in(EMAIL, "Wrong-Horse-42").await) {
                locked = true;
                break;
            }
        }
        assert!(locked);
        assert!(is_locked(&fx.sign_in(EMAIL, PASSWORD).await));
        let unlocked = fx.accounts.unlock(fx.id_of(EMAIL).await).await.unwrap();
        assert_eq!((unlocked.failed_attempts, unlocked.locked_until), (0, None));
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_unlocked".to_string())
        );
        // A second unlock is harmless.
        assert!(fx.accounts.unlock(fx.id_of(EMAIL).await).await.is_ok());
        assert!(matches!(
            fx.accounts
                .unlock(careid_store::AccountId::new(999_999))
                .await,
            Err(AccountsError::UnknownAccount)
        ));
    }

    #[tokio::test]
    async fn a_reactivated_account_gets_a_fresh_90_days() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        fx.advance(Duration::days(91));
        assert_eq!(fx.sign_in(EMAIL, PASSWORD).await, Err(SignInError::Expired));
        let reactivated = fx.accounts.reactivate(fx.id_of(EMAIL).await).await.unwrap();
        assert_eq!(reactivated.status(), Status::Active);
        assert_eq!(reactivated.expired_at, None);
        fx.advance(Duration::days(90));
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_reactivated".to_string())
        );
    }

    #[tokio::test]
    async fn the_sweep_expires_only_accounts_idle_past_the_limit() {
        let fx = Fixture::new().await;
        let idle = fx.active("idle@clinic.example", PASSWORD).await;
        let disabled = fx.active("off@clinic.example", PASSWORD).await;
        fx.accounts.disable(disabled.id).await.unwrap();
        fx.advance(Duration::days(1));
        let at_limit = fx.active("limit@clinic.example", PASSWORD).await;
        fx.advance(Duration::days(60));
        let fresh = fx.active("fresh@clinic.example", PASSWORD).await;
        let refresh = fx.refresh_token(idle.id).await;
        // `idle` is now 91 days idle, `at_limit` exactly 90, `fresh` 30.
        fx.advance(Duration::days(30));

        assert_eq!(fx.accounts.sweep_inactive().await.unwrap(), 1);
        assert_eq!(fx.account(idle.id).await.status(), Status::Expired);
        assert_eq!(fx.account(idle.id).await.expired_at, Some(fx.clock_now()));
        assert_eq!(fx.account(at_limit.id).await.status(), Status::Active);
        assert_eq!(fx.account(fresh.id).await.status(), Status::Active);
        assert_eq!(fx.account(disabled.id).await.status(), Status::Disabled);
        assert!(fx.is_revoked(&refresh).await);
        assert!(
            fx.events(idle.id)
                .await
                .contains(&"account_expired".to_string())
        );
        // Run again: nothing left to expire.
        assert_eq!(fx.accounts.sweep_inactive().await.unwrap(), 0);
    }
}
