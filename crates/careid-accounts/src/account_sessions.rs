//! An account's careid sessions as an administrator manages them: list the open ones,
//! end one, end all. Every ending goes through the store's one session-ending function
//! (`sessions::end_sessions`), so the clients that got tokens in a session are told by
//! back-channel logout and its refresh tokens stop, as with any other ending.

use careid_store::{
    AccountId, ClientId, audit,
    sessions::{self, Ending, Session},
};
use serde_json::json;

use crate::{
    Accounts, AccountsError,
    service::{commit, event},
};

impl Accounts {
    /// The account's open sessions, oldest first. An unknown account is
    /// `UnknownAccount`.
    pub async fn open_sessions(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<Session>, AccountsError> {
        self.find_account(account_id).await?;
        Ok(sessions::find_open_for_account(&self.db, account_id).await?)
    }

    /// Ends the open session `session_id` of the account. A session that is not the
    /// account's (or does not exist) is `UnknownSession`; one already ended is
    /// `Ok(false)`, so ending twice is safe.
    pub async fn end_account_session(
        &self,
        account_id: AccountId,
        session_id: i64,
        client_id: Option<&ClientId>,
    ) -> Result<bool, AccountsError> {
        self.find_account(account_id).await?;
        // The owner check and the ending read different rows; a session never changes
        // owner, so the check cannot go stale.
        let owned = sessions::find_by_id(&self.db, session_id)
            .await?
            .is_some_and(|session| session.account_id == account_id);
        if !owned {
            return Err(AccountsError::UnknownSession);
        }
        let now = self.clock.now();
        let txn = self.begin().await?;
        let ended = sessions::end_sessions(&txn, Ending::Session(session_id), now).await?;
        if !ended.is_empty() {
            let recorded = audit::NewEvent {
                client_id: client_id.cloned(),
                detail: json!({ "by": "admin", "sid": ended[0].sid }),
                ..event("session_ended", account_id)
            };
            audit::insert_event(&txn, recorded, now).await?;
        }
        commit(txn).await?;
        Ok(!ended.is_empty())
    }

    /// Ends every open session of the account (and its offline refresh tokens, as any
    /// account-wide ending does). Returns how many sessions ended.
    pub async fn end_all_sessions(
        &self,
        account_id: AccountId,
        client_id: Option<&ClientId>,
    ) -> Result<usize, AccountsError> {
        self.find_account(account_id).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        let which = Ending::Account {
            account_id,
            keep: None,
        };
        let ended = sessions::end_sessions(&txn, which, now).await?;
        let recorded = audit::NewEvent {
            client_id: client_id.cloned(),
            detail: json!({ "by": "admin", "count": ended.len() }),
            ..event("sessions_ended", account_id)
        };
        audit::insert_event(&txn, recorded, now).await?;
        commit(txn).await?;
        Ok(ended.len())
    }
}

#[cfg(test)]
mod tests {
    use careid_store::logout_deliveries;

    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    /// The ids of the account's open sessions, oldest first.
    async fn open_ids(fx: &Fixture, account_id: AccountId) -> Vec<i64> {
        let open = fx.accounts.open_sessions(account_id).await.unwrap();
        open.iter().map(|s| s.id).collect()
    }

    #[tokio::test]
    async fn ending_one_session_leaves_the_others_and_tells_its_clients() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let one = fx.session(ada.id).await;
        let two = fx.session(ada.id).await;
        sessions::insert_client(
            &fx.accounts.db,
            &one.sid,
            &ClientId::from("crm"),
            "sub",
            fx.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!(open_ids(&fx, ada.id).await, [one.id, two.id]);

        assert!(
            fx.accounts
                .end_account_session(ada.id, one.id, None)
                .await
                .unwrap()
        );
        assert!(
            !fx.accounts
                .end_account_session(ada.id, one.id, None)
                .await
                .unwrap()
        );
        assert_eq!(open_ids(&fx, ada.id).await, [two.id]);
        let queued = logout_deliveries::find_for_session(&fx.accounts.db, &one.sid)
            .await
            .unwrap();
        assert_eq!(queued.len(), 1);
    }

    #[tokio::test]
    async fn a_session_of_another_account_cannot_be_ended_through_this_one() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        let bos = fx.session(bo.id).await;
        assert!(matches!(
            fx.accounts.end_account_session(ada.id, bos.id, None).await,
            Err(AccountsError::UnknownSession)
        ));
        assert_eq!(fx.accounts.open_sessions(bo.id).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn ending_all_sessions_ends_each_open_one() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        for _ in 0..3 {
            fx.accounts
                .start_session(ada.id, None, vec![])
                .await
                .unwrap();
        }
        assert_eq!(fx.accounts.end_all_sessions(ada.id, None).await.unwrap(), 3);
        assert!(fx.accounts.open_sessions(ada.id).await.unwrap().is_empty());
        assert_eq!(fx.accounts.end_all_sessions(ada.id, None).await.unwrap(), 0);
    }
}
