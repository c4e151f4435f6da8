//! Changing a password (the person knows the current one) and setting one (activation and
//! reset flows, which have already proved who the person is). Both apply the password
//! rules and the history rule; the links and codes that lead here are other modules'.

use careid_policy::{HISTORY_DEPTH, PasswordHash, PlainPassword, Violation, password};
use careid_store::Tx;
use careid_store::{
    AccountId,
    accounts::{self, Account, Status},
    audit, password_history,
    sessions::{self, Ending},
};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    Accounts, AccountsError,
    service::{commit, event},
};

impl Accounts {
    /// Changes the password of a signed-in person who typed the `current` one.
    ///
    /// The new password must meet the rules and differ from the last
    /// [`HISTORY_DEPTH`] (the current one included). Every other session of the account
    /// ends, so someone who knew the old password is signed out; `keep_session` (the one
    /// making the change) stays. A wrong current password is audited
    /// (`password_change_failed`, with `ip`), as a sign-in failure is.
    pub async fn change_password(
        &self,
        account_id: AccountId,
        current: PlainPassword,
        new: PlainPassword,
        confirmation: PlainPassword,
        keep_session: Option<i64>,
        ip: Option<String>,
    ) -> Result<(), AccountsError> {
        let account = self.find_account(account_id).await?;
        let is_current = match account.password_hash.clone() {
            Some(phc) => {
                self.hasher
                    .verify(current, PasswordHash::from_phc(phc))
                    .await?
            }
            None => false,
        };
        if !is_current {
            // Someone holding the session is guessing, or the person mistyped: either
            // way the account's owner and administrators should be able to see it.
            let failed = audit::NewEvent {
                ip,
                detail: json!({ "reason": "current_password_wrong" }),
                ..event("password_change_failed", account.id)
            };
            audit::insert_event(&self.db, failed, self.clock.now()).await?;
            return Err(AccountsError::CurrentPasswordWrong);
        }
        let hash = self.acceptable_hash(&account, new, confirmation).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        accounts::update_password(&txn, account.id, hash.as_str(), now).await?;
        password_history::insert_entry(&txn, account.id, hash.as_str(), now).await?;
        let which = Ending::Account {
            account_id: account.id,
            keep: keep_session,
        };
        let ended = sessions::end_sessions(&txn, which, now).await?.len();
        let changed = audit::NewEvent {
            detail: json!({ "sessions_ended": ended }),
            ..event("password_changed", account.id)
        };
        audit::insert_event(&txn, changed, now).await?;
        commit(txn).await
    }

    /// Sets a new password after an activation or reset link proved who the person is.
    ///
    /// Same rules and history as [`Self::change_password`]. An invited account becomes
    /// active. The inactivity clock restarts and any lockout clears (the person has just
    /// proved control of the mailbox), and every session of the account ends.
    pub async fn set_password(
        &self,
        account_id: AccountId,
        new: PlainPassword,
        confirmation: PlainPassword,
    ) -> Result<(), AccountsError> {
        let account = self.find_account(account_id).await?;
        let hash = self.acceptable_hash(&account, new, confirmation).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        self.write_set_password(&txn, account.id, &hash, now)
            .await?;
        commit(txn).await
    }

    /// The writes of [`Self::set_password`] for an already accepted `hash`, in the
    /// caller's transaction, so that a link or code can be used up in the same one.
    pub(crate) async fn write_set_password(
        &self,
        txn: &Tx,
        account_id: AccountId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), AccountsError> {
        // Read in the transaction, which holds the write lock: the status is the one the
        // writes below change.
        let account = accounts::find_by_id(txn, account_id)
            .await?
            .ok_or(AccountsError::UnknownAccount)?;
        let is_activation = account.status() == Status::Invited;
        // `update_signed_in` is exactly "new hash, counters cleared, activity now".
        accounts::update_signed_in(txn, account.id, Some(hash.as_str().to_owned()), now).await?;
        password_history::insert_entry(txn, account.id, hash.as_str(), now).await?;
        if is_activation {
            accounts::update_status(txn, account.id, Status::Active, now).await?;
        }
        let which = Ending::Account {
            account_id: account.id,
            keep: None,
        };
        sessions::end_sessions(txn, which, now).await?;
        let set = audit::NewEvent {
            detail: json!({ "activated": is_activation }),
            ..event("password_set", account.id)
        };
        audit::insert_event(txn, set, now).await?;
        Ok(())
    }

    /// The account with this id, or `UnknownAccount`.
    pub(crate) async fn find_account(
        &self,
        account_id: AccountId,
    ) -> Result<Account, AccountsError> {
        accounts::find_by_id(&self.db, account_id)
            .await?
            .ok_or(AccountsError::UnknownAccount)
    }

    /// Checks a new password against the rules and the account's history, then hashes it.
    pub(crate) async fn acceptable_hash(
        &self,
        account: &Account,
        new: PlainPassword,
        confirmation: PlainPassword,
    ) -> Result<PasswordHash, AccountsError> {
        let violations =
            password::check(&self.config.password, &new, &confirmation, &account.email);
        if !violations.is_empty() {
            return Err(AccountsError::PasswordRejected(violations));
        }
        let recent = password_history::find_recent(&self.db, account.id, HISTORY_DEPTH as u64)
            .await?
            .into_iter()
            .map(PasswordHash::from_phc)
            .collect();
        if self.hasher.is_reused(new.clone(), recent).await? {
            return Err(AccountsError::PasswordRejected(vec![Violation::Reused]));
        }
        self.hasher.hash(new).await
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::{
        SignInError,
        testing::{Fixture, PASSWORD, pw},
    };

    const EMAIL: &str = "ada@clinic.example";

    /// Passwords from oldest to newest: the account starts with the first.
    const SUCCESSION: [&str; 6] = [
        "Tulip-Harbor-42",
        "Willow-Creek-17",
        "Maple-Quarry-58",
        "Cedar-Meadow-93",
        "Birch-Lantern-26",
        "Aspen-Valley-71",
    ];

    async fn change(
        fx: &Fixture,
        account_id: AccountId,
        current: &str,
        new: &str,
    ) -> Result<(), AccountsError> {
        fx.accounts
            .change_password(account_id, pw(current), pw(new), pw(new), None, None)
            .await
    }

    fn is_reuse(result: Result<(), AccountsError>) -> bool {
        matches!(result, Err(AccountsError::PasswordRejected(v)) if v == [Violation::Reused])
    }

    #[tokio::test]
    async fn a_changed_password_signs_in_and_the_old_one_does_not() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        change(&fx, account.id, PASSWORD, "Willow-Creek-17")
            .await
            .unwrap();
        assert!(fx.sign_in(EMAIL, "Willow-Creek-17").await.is_ok());
        assert_eq!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::WrongCredentials)
        );
        assert!(
            fx.events(account.id)
                .await
                .contains(&"password_changed".to_string())
        );
    }

    #[tokio::test]
    async fn a_wrong_current_password_changes_nothing() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let result = change(&fx, account.id, "Not-The-Password-1", "Willow-Creek-17").await;
        assert!(matches!(result, Err(AccountsError::CurrentPasswordWrong)));
        assert!(
            fx.events(account.id)
                .await
                .contains(&"password_change_failed".to_string())
        );
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn the_current_password_is_refused_as_the_new_one() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        assert!(is_reuse(change(&fx, account.id, PASSWORD, PASSWORD).await));
    }

    #[tokio::test]
    async fn the_fifth_most_recent_password_is_refused_and_the_sixth_accepted() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, SUCCESSION[0]).await;
        for pair in SUCCESSION.windows(2) {
            change(&fx, account.id, pair[0], pair[1]).await.unwrap();
        }
        // History, newest first: [5] (current), [4], [3], [2], [1], [0].
        let current = SUCCESSION[5];
        assert!(is_reuse(
            change(&fx, account.id, current, SUCCESSION[1]).await
        ));
        change(&fx, account.id, current, SUCCESSION[0])
            .await
            .unwrap();
        assert!(fx.sign_in(EMAIL, SUCCESSION[0]).await.is_ok());
    }

    #[tokio::test]
    async fn a_new_password_that_breaks_the_rules_lists_every_rule() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let result = change(&fx, account.id, PASSWORD, "qzxvkw").await;
        assert!(matches!(result, Err(AccountsError::PasswordRejected(v)) if v.len() == 4));
    }

    #[tokio::test]
    async fn changing_the_password_ends_every_other_session() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let mine = fx.session(account.id).await;
        let theirs = fx.session(account.id).await;
        fx.accounts
            .change_password(
                account.id,
                pw(PASSWORD),
                pw("Willow-Creek-17"),
                pw("Willow-Creek-17"),
                Some(mine.id),
                None,
            )
            .await
            .unwrap();
        let open = |sid: String| {
            let db = fx.accounts.db.clone();
            async move {
                sessions::find_open_by_sid(&db, &sid)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        assert!(open(mine.sid).await);
        assert!(!open(theirs.sid).await);
    }

    #[tokio::test]
    async fn setting_a_password_activates_an_invited_account() {
        let fx = Fixture::new().await;
        let invited = fx.with_status(EMAIL, None, Status::Invited).await;
        fx.advance(Duration::days(30));
        fx.accounts
            .set_password(invited.id, pw(PASSWORD), pw(PASSWORD))
            .await
            .unwrap();
        let account = fx.account(invited.id).await;
        assert_eq!(account.status(), Status::Active);
        assert_eq!(account.activity_at, fx.clock_now());
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
        assert!(
            fx.events(invited.id)
                .await
                .contains(&"password_set".to_string())
        );
    }

    #[tokio::test]
    async fn setting_a_password_keeps_the_history_rule() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let result = fx
            .accounts
            .set_password(account.id, pw(PASSWORD), pw(PASSWORD))
            .await;
        assert!(is_reuse(result));
    }

    #[tokio::test]
    async fn an_unknown_account_cannot_change_its_password() {
        let fx = Fixture::new().await;
        let result = change(&fx, AccountId::new(4242), PASSWORD, "Willow-Creek-17").await;
        assert!(matches!(result, Err(AccountsError::UnknownAccount)));
    }
}
