//! The applications a person allowed, as the account page manages them: withdrawing
//! one profile's consent for an application. The page itself is `careid-ui`'s.

use careid_store::{AccountId, ClientId, ProfileId, audit, consents, profiles, refresh_tokens};
use serde_json::json;

use crate::{
    Accounts, AccountsError,
    service::{commit, event},
};

impl Accounts {
    /// Withdraws the consent `profile_id` gave `client_id` and revokes that client's
    /// refresh tokens for the account, with an audit event, in one transaction: the
    /// application must ask again, and what it holds stops working at once. A profile
    /// of another account (the id comes from a browser) is `UnknownProfile`.
    pub async fn withdraw_app(
        &self,
        account_id: AccountId,
        profile_id: ProfileId,
        client_id: &ClientId,
    ) -> Result<(), AccountsError> {
        let profile = profiles::find_by_id(&self.db, profile_id).await?;
        if profile.is_none_or(|p| p.account_id != account_id) {
            return Err(AccountsError::UnknownProfile);
        }
        let now = self.clock.now();
        let txn = self.begin().await?;
        consents::delete_consent(&txn, profile_id, client_id).await?;
        let revoked =
            refresh_tokens::revoke_for_account(&txn, account_id, Some(client_id), now).await?;
        let removed = audit::NewEvent {
            client_id: Some(client_id.to_owned()),
            detail: json!({ "profile_id": profile_id, "refresh_tokens_revoked": revoked }),
            ..event("consent_removed", account_id)
        };
        audit::insert_event(&txn, removed, now).await?;
        commit(txn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    #[tokio::test]
    async fn withdrawing_an_app_forgets_the_consent_and_revokes_its_tokens() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let profile = profiles::find_for_account(&fx.accounts.db, ada.id)
            .await
            .unwrap()[0]
            .id;
        consents::upsert(
            &fx.accounts.db,
            profile,
            &ClientId::from("crm"),
            "openid",
            fx.clock_now(),
        )
        .await
        .unwrap();
        let token = fx.refresh_token(ada.id).await;
        fx.accounts
            .withdraw_app(ada.id, profile, &ClientId::from("crm"))
            .await
            .unwrap();
        assert!(
            consents::find_scopes(&fx.accounts.db, profile, &ClientId::from("crm"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(fx.is_revoked(&token).await);
        assert!(
            fx.events(ada.id)
                .await
                .contains(&"consent_removed".to_owned())
        );
    }

    #[tokio::test]
    async fn another_accounts_profile_is_refused_and_nothing_changes() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        let bos = profiles::find_for_account(&fx.accounts.db, bo.id)
            .await
            .unwrap()[0]
            .id;
        consents::upsert(
            &fx.accounts.db,
            bos,
            &ClientId::from("crm"),
            "openid",
            fx.clock_now(),
        )
        .await
        .unwrap();
        assert!(matches!(
            fx.accounts
                .withdraw_app(ada.id, bos, &ClientId::from("crm"))
                .await,
            Err(AccountsError::UnknownProfile)
        ));
        assert!(
            consents::find_scopes(&fx.accounts.db, bos, &ClientId::from("crm"))
                .await
                .unwrap()
                .is_some()
        );
    }
}
