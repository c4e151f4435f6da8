//! Deleting an account for good (administrator or CLI). Its sessions end through the
//! one session-ending function, so every client that got tokens in them is told by
//! back-channel logout; then the account row goes, and with it (foreign keys
//! `ON DELETE CASCADE`) its profiles, consents, password history, one-time tokens,
//! sessions and refresh tokens. Its pairwise subjects, which have no foreign key, go
//! explicitly. The audit trail stays.

use careid_store::{AccountId, ClientId, accounts, audit, pairwise};
use serde_json::json;

use crate::{
    Accounts, AccountsError,
    service::{commit, event, revoke_everything},
};

impl Accounts {
    /// Deletes the account `account_id` and everything it holds, in one transaction;
    /// `client_id` is the admin client that asked, for the audit trail. Returns whether
    /// there was one to delete: deleting twice leaves the same state and is not an
    /// error, so an administrator's retry is safe.
    pub async fn delete_account(
        &self,
        account_id: AccountId,
        client_id: Option<&ClientId>,
    ) -> Result<bool, AccountsError> {
        let Some(account) = accounts::find_by_id(&self.db, account_id).await? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let txn = self.begin().await?;
        // The logout deliveries are queued from the sessions' client lists, so the
        // sessions end before the cascade removes them.
        revoke_everything(&txn, account.id, now).await?;
        pairwise::delete_for_account(&txn, account.id).await?;
        if !accounts::delete_account(&txn, account.id).await? {
            // A concurrent deletion won; this one changes nothing.
            return Ok(false);
        }
        let deleted = audit::NewEvent {
            client_id: client_id.cloned(),
            detail: json!({ "email": account.email, "status": account.status }),
            ..event("account_deleted", account.id)
        };
        audit::insert_event(&txn, deleted, now).await?;
        commit(txn).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use careid_store::{logout_deliveries, profiles, refresh_tokens, sessions};

    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    const EMAIL: &str = "ada@clinic.example";

    #[tokio::test]
    async fn a_deleted_account_is_gone_with_its_sessions_and_tokens_and_its_clients_are_told() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        let session = fx.session(account.id).await;
        sessions::insert_client(
            &fx.accounts.db,
            &session.sid,
            &ClientId::from("crm"),
            "sub",
            fx.clock_now(),
        )
        .await
        .unwrap();
        let refresh = fx.refresh_token(account.id).await;
        let own = profiles::find_for_account(&fx.accounts.db, account.id)
            .await
            .unwrap()[0]
            .id;
        pairwise::insert_subject(&fx.accounts.db, "pairwise-sub", own, fx.clock_now())
            .await
            .unwrap();

        assert!(
            fx.accounts
                .delete_account(account.id, Some(&ClientId::from("crm-admin")))
                .await
                .unwrap()
        );

        assert!(matches!(
            fx.accounts.account_by_email(EMAIL).await,
            Err(AccountsError::UnknownAccount)
        ));
        assert!(
            profiles::find_for_account(&fx.accounts.db, account.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            pairwise::find_profile_id(&fx.accounts.db, "pairwise-sub")
                .await
                .unwrap(),
            None,
            "a deleted profile's pairwise sub names nobody"
        );
        assert!(
            sessions::find_open_by_sid(&fx.accounts.db, &session.sid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            refresh_tokens::find_by_digest(&fx.accounts.db, &refresh)
                .await
                .unwrap()
                .is_none()
        );
        let queued = logout_deliveries::find_for_session(&fx.accounts.db, &session.sid)
            .await
            .unwrap();
        assert_eq!(queued.len(), 1);
        assert!(
            fx.events(account.id)
                .await
                .contains(&"account_deleted".to_string())
        );
    }

    #[tokio::test]
    async fn deleting_twice_is_not_an_error() {
        let fx = Fixture::new().await;
        let account = fx.active(EMAIL, PASSWORD).await;
        assert!(fx.accounts.delete_account(account.id, None).await.unwrap());
        assert!(!fx.accounts.delete_account(account.id, None).await.unwrap());
        // The email is free again.
        fx.active(EMAIL, PASSWORD).await;
    }
}
