//! An account's profiles (DESIGN.md, Identity model) and the applications they allowed,
//! as the profile picker, the consent page and the account page need them. The pages
//! are `careid-ui`'s; which profile a token names is `careid-protocol`'s.

use careid_store::{
    consents,
    profiles::{self, NewProfile},
    sessions,
};

use crate::{Accounts, AccountsError, service::random_id};

pub use careid_store::profiles::Profile;

/// One application one profile allowed, as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedApp {
    /// The client the consent was given to.
    pub client_id: String,
    /// The profile that gave it.
    pub profile_id: i64,
    /// That profile's display name.
    pub profile_name: String,
    /// The granted scopes, in the order they were granted.
    pub scopes: Vec<String>,
}

impl Accounts {
    /// Adds a profile (a couple, a dependent…) to an account, after its existing ones,
    /// with a fresh random subject.
    pub async fn add_profile(
        &self,
        account_id: i64,
        kind: &str,
        name: &str,
        email: Option<String>,
    ) -> Result<Profile, AccountsError> {
        let new = NewProfile {
            account_id,
            subject: random_id(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            email,
        };
        Ok(profiles::insert_profile(&self.db, new, self.clock.now()).await?)
    }

    /// The account's profiles, self first.
    pub async fn profiles(&self, account_id: i64) -> Result<Vec<Profile>, AccountsError> {
        Ok(profiles::find_for_account(&self.db, account_id).await?)
    }

    /// The profile an application will see for this account: `chosen` (the one picked on
    /// the session) if it is the account's, else the account's only profile. `None`
    /// means the person must pick one first.
    pub async fn acting_profile(
        &self,
        account_id: i64,
        chosen: Option<i64>,
    ) -> Result<Option<Profile>, AccountsError> {
        let mut all = self.profiles(account_id).await?;
        if let Some(id) = chosen {
            return Ok(all.into_iter().find(|p| p.id == id));
        }
        Ok(if all.len() == 1 { all.pop() } else { None })
    }

    /// Records on the open session `session_id` of `account_id` the profile the person
    /// picked. The id comes from a browser: a profile of another account, or a session
    /// that is not this account's or has ended, is `UnknownProfile` and changes nothing.
    pub async fn choose_profile(
        &self,
        account_id: i64,
        session_id: i64,
        profile_id: i64,
    ) -> Result<(), AccountsError> {
        // The statement itself checks the session's and the profile's owner, so no read
        // can go stale before the write.
        if sessions::update_profile(&self.db, session_id, account_id, profile_id).await? {
            Ok(())
        } else {
            Err(AccountsError::UnknownProfile)
        }
    }

    /// The applications the account's profiles allowed, oldest consent first.
    pub async fn allowed_apps(&self, account_id: i64) -> Result<Vec<AllowedApp>, AccountsError> {
        let profiles = self.profiles(account_id).await?;
        let ids: Vec<i64> = profiles.iter().map(|p| p.id).collect();
        let consents = consents::find_for_profiles(&self.db, &ids).await?;
        Ok(consents
            .into_iter()
            .map(|consent| AllowedApp {
                profile_name: profiles
                    .iter()
                    .find(|p| p.id == consent.profile_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                scopes: consent
                    .scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                client_id: consent.client_id,
                profile_id: consent.profile_id,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    #[tokio::test]
    async fn an_added_profile_comes_after_self_with_its_own_subject() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let sam = fx
            .accounts
            .add_profile(ada.id, "dependent", "Sam Okafor", None)
            .await
            .unwrap();
        let all = fx.accounts.profiles(ada.id).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].id, sam.id);
        assert_eq!(all[1].kind, "dependent");
        assert_ne!(all[0].subject, all[1].subject);
    }

    #[tokio::test]
    async fn the_only_profile_acts_without_a_choice_and_two_need_one() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let own = fx.accounts.profiles(ada.id).await.unwrap()[0].id;
        let acting = fx.accounts.acting_profile(ada.id, None).await.unwrap();
        assert_eq!(acting.map(|p| p.id), Some(own));
        let sam = fx
            .accounts
            .add_profile(ada.id, "dependent", "Sam Okafor", None)
            .await
            .unwrap();
        assert!(
            fx.accounts
                .acting_profile(ada.id, None)
                .await
                .unwrap()
                .is_none()
        );
        let chosen = fx.accounts.acting_profile(ada.id, Some(sam.id)).await;
        assert_eq!(chosen.unwrap().map(|p| p.id), Some(sam.id));
    }

    #[tokio::test]
    async fn a_chosen_profile_of_another_account_does_not_act() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        let bos = fx.accounts.profiles(bo.id).await.unwrap()[0].id;
        let acting = fx.accounts.acting_profile(ada.id, Some(bos)).await;
        assert!(acting.unwrap().is_none());
    }

    #[tokio::test]
    async fn choosing_a_profile_sets_it_on_the_session() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let sam = fx
            .accounts
            .add_profile(ada.id, "dependent", "Sam Okafor", None)
            .await
            .unwrap();
        let (_, session) = fx
            .accounts
            .start_session(ada.id, None, vec![])
            .await
            .unwrap();
        fx.accounts
            .choose_profile(ada.id, session.id, sam.id)
            .await
            .unwrap();
        let stored = sessions::find_open_by_sid(&fx.accounts.db, &session.sid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.profile_id, Some(sam.id));
    }

    #[tokio::test]
    async fn choosing_another_accounts_profile_is_refused_and_changes_nothing() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        fx.accounts
            .add_profile(ada.id, "dependent", "Sam Okafor", None)
            .await
            .unwrap();
        let bos = fx.accounts.profiles(bo.id).await.unwrap()[0].id;
        let (_, session) = fx
            .accounts
            .start_session(ada.id, None, vec![])
            .await
            .unwrap();
        assert!(matches!(
            fx.accounts.choose_profile(ada.id, session.id, bos).await,
            Err(AccountsError::UnknownProfile)
        ));
        // Another account's session cannot be steered either.
        let (_, bos_session) = fx
            .accounts
            .start_session(bo.id, None, vec![])
            .await
            .unwrap();
        assert!(matches!(
            fx.accounts
                .choose_profile(ada.id, bos_session.id, bos)
                .await,
            Err(AccountsError::UnknownProfile)
        ));
        let stored = sessions::find_open_by_sid(&fx.accounts.db, &session.sid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.profile_id, None);
    }

    #[tokio::test]
    async fn allowed_apps_lists_each_profiles_consents() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        let own = fx.accounts.profiles(ada.id).await.unwrap()[0].clone();
        let sam = fx
            .accounts
            .add_profile(ada.id, "dependent", "Sam Okafor", None)
            .await
            .unwrap();
        let bos = fx.accounts.profiles(bo.id).await.unwrap()[0].id;
        let now = fx.clock_now();
        consents::upsert(&fx.accounts.db, own.id, "app", "openid email", now)
            .await
            .unwrap();
        consents::upsert(&fx.accounts.db, sam.id, "app", "openid", now)
            .await
            .unwrap();
        consents::upsert(&fx.accounts.db, bos, "other", "openid", now)
            .await
            .unwrap();
        let apps = fx.accounts.allowed_apps(ada.id).await.unwrap();
        assert_eq!(
            apps,
            vec![
                AllowedApp {
                    client_id: "app".into(),
                    profile_id: own.id,
                    profile_name: own.name,
                    scopes: vec!["openid".into(), "email".into()],
                },
                AllowedApp {
                    client_id: "app".into(),
                    profile_id: sam.id,
                    profile_name: "Sam Okafor".into(),
                    scopes: vec!["openid".into()],
                },
            ]
        );
    }
}
