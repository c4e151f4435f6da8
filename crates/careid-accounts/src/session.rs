//! Starting a careid session once a person has signed in. The cookie gets a random
//! secret; the database keeps only its SHA-256 digest, so a leaked database or backup
//! cannot be replayed as cookies. Cookies themselves are `careid-ui`'s.

use std::fmt;

use careid_policy::one_time;
use careid_store::{
    AccountId, ProfileId, profiles,
    sessions::{self, NewSession, Session},
};

use crate::{Accounts, AccountsError, service::random_id};

/// The secret a browser's session cookie holds. Never printed: `Debug` shows
/// `SessionSecret(***)` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(String);

impl SessionSecret {
    /// The secret, for the cookie only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(***)")
    }
}

/// The `amr` of a session raised by a second factor: what it had, then `otp` and `mfa`
/// (RFC 8176 §2) unless present already.
pub(crate) fn raised_amr(amr: &[String]) -> Vec<String> {
    let mut raised = amr.to_vec();
    for method in ["otp", "mfa"] {
        if !raised.iter().any(|m| m == method) {
            raised.push(method.to_owned());
        }
    }
    raised
}

/// Raises `session` in `db` after a second factor: `amr` gains `otp` and `mfa`, and the
/// cookie gets a new secret, since a session id must change when its privilege does
/// (OWASP Session Management Cheat Sheet, "Renew the Session ID After Any Privilege
/// Level Change"). The public `sid` stays, so the applications already signed in through
/// this session stay signed in and are still told when it ends. `None` when the session
/// ended or was replaced meanwhile.
pub(crate) async fn raise(
    db: &impl careid_store::ConnectionTrait,
    session: &Session,
) -> Result<Option<SessionSecret>, careid_store::StoreError> {
    let secret = SessionSecret(one_time::new_token());
    let is_raised = sessions::update_stepped_up(
        db,
        session.id,
        &session.digest,
        &one_time::digest(secret.as_str()),
        &raised_amr(&session.amr()),
    )
    .await?;
    Ok(is_raised.then_some(secret))
}

impl Accounts {
    /// Raises the signed-in `session` whose person has just confirmed a new
    /// authenticator app with a current code ([`raise`]'s rules). `None` when the session
    /// ended or was replaced meanwhile.
    pub async fn raise_session(
        &self,
        session: &Session,
    ) -> Result<Option<SessionSecret>, AccountsError> {
        Ok(raise(&self.db, session).await?)
    }

    /// Starts a session for an account that has just authenticated by the `amr` methods
    /// (RFC 8176 values such as `pwd`).
    ///
    /// Without a `profile_id`, the account's only profile is chosen; with several, the
    /// session starts without one and the profile picker sets it. A `profile_id` of another
    /// account is `UnknownProfile`.
    pub async fn start_session(
        &self,
        account_id: AccountId,
        profile_id: Option<ProfileId>,
        amr: Vec<String>,
    ) -> Result<(SessionSecret, Session), AccountsError> {
        let now = self.clock.now();
        let profile_id = match profile_id {
            Some(id) => match profiles::find_by_id(&self.db, id).await? {
                Some(profile) if profile.account_id == account_id => Some(profile.id),
                _ => return Err(AccountsError::UnknownProfile),
            },
            None => match profiles::find_for_account(&self.db, account_id).await?[..] {
                [ref only] => Some(only.id),
                _ => None,
            },
        };
        // 256 random bits, base64url: the same strength as a one-time link token.
        let secret = SessionSecret(one_time::new_token());
        let new = NewSession {
            digest: one_time::digest(secret.as_str()),
            sid: random_id(),
            account_id,
            profile_id,
            amr,
        };
        let session = sessions::insert_session(&self.db, new, now).await?;
        Ok((secret, session))
    }
}

#[cfg(test)]
mod tests {
    use careid_store::profiles::NewProfile;

    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    #[tokio::test]
    async fn a_session_stores_only_the_digest_of_its_secret() {
        let fx = Fixture::new().await;
        let account = fx.active("ada@clinic.example", PASSWORD).await;
        let (secret, session) = fx
            .accounts
            .start_session(account.id, None, vec!["pwd".into()])
            .await
            .unwrap();
        assert_eq!(secret.as_str().len(), 43);
        assert_ne!(session.digest, secret.as_str());
        let found =
            sessions::find_open_by_digest(&fx.accounts.db, &one_time::digest(secret.as_str()))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(found.id, session.id);
        assert_eq!(found.amr(), vec!["pwd".to_string()]);
        assert_eq!(found.auth_time, fx.clock_now());
        assert_eq!(format!("{secret:?}"), "SessionSecret(***)");
    }

    #[tokio::test]
    async fn an_account_with_one_profile_gets_it_chosen_automatically() {
        let fx = Fixture::new().await;
        let account = fx.active("ada@clinic.example", PASSWORD).await;
        let session = fx.session(account.id).await;
        let only = profiles::find_for_account(&fx.accounts.db, account.id)
            .await
            .unwrap();
        assert_eq!(session.profile_id, Some(only[0].id));
    }

    #[tokio::test]
    async fn an_account_with_two_profiles_starts_without_a_choice() {
        let fx = Fixture::new().await;
        let account = fx.active("ada@clinic.example", PASSWORD).await;
        let minor = NewProfile {
            account_id: account.id,
            subject: random_id(),
            kind: "dependent".into(),
            name: "Sam Okafor".into(),
            email: None,
            birthdate: None,
        };
        let minor = profiles::insert_profile(&fx.accounts.db, minor, fx.clock_now())
            .await
            .unwrap();
        let session = fx.session(account.id).await;
        assert_eq!(session.profile_id, None);
        let (_, picked) = fx
            .accounts
            .start_session(account.id, Some(minor.id), vec![])
            .await
            .unwrap();
        assert_eq!(picked.profile_id, Some(minor.id));
        assert_ne!(picked.sid, session.sid);
    }

    #[tokio::test]
    async fn a_profile_of_another_account_is_refused() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        let bos = profiles::find_for_account(&fx.accounts.db, bo.id)
            .await
            .unwrap();
        assert!(matches!(
            fx.accounts
                .start_session(ada.id, Some(bos[0].id), vec![])
                .await,
            Err(AccountsError::UnknownProfile)
        ));
    }
}
