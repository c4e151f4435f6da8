//! An account's profiles (DESIGN.md, Identity model) and the applications they allowed,
//! as the profile picker, the consent page and the account page need them. The pages
//! are `careid-ui`'s; which profile a token names is `careid-protocol`'s.

use careid_store::{
    AccountId, ClientId, ProfileId,
    accounts::{self, Account},
    audit, consents, pairwise,
    profiles::{self, NewProfile},
    refresh_tokens, sessions,
};
use serde_json::json;
use time::{Date, Month};

use crate::{
    Accounts, AccountsError,
    service::{commit, event, random_id},
};

pub use careid_store::profiles::Profile;

/// One application one profile allowed, as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedApp {
    /// The client the consent was given to.
    pub client_id: ClientId,
    /// The profile that gave it.
    pub profile_id: ProfileId,
    /// That profile's display name.
    pub profile_name: String,
    /// The granted scopes, in the order they were granted.
    pub scopes: Vec<String>,
}

/// The longest profile name careid keeps.
const MAX_NAME_CHARS: usize = 200;

/// Who a profile stands for, as staff name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    /// The account holder.
    Own,
    /// A couple seen together (a joint profile).
    Couple,
    /// Someone the account holder acts for: a minor child, a dependent adult.
    Dependent,
}

impl ProfileKind {
    /// `self`, `couple` or `dependent`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "self",
            Self::Couple => "couple",
            Self::Dependent => "dependent",
        }
    }

    /// The kind named `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "self" => Some(Self::Own),
            "couple" => Some(Self::Couple),
            "dependent" => Some(Self::Dependent),
            _ => None,
        }
    }
}

/// A profile staff add to an account: the claims a relying party will see for it.
#[derive(Debug, Clone)]
pub struct NewProfileFields {
    /// Display name (OIDC `name`); given and family names are split from it.
    pub name: String,
    /// Who it stands for.
    pub kind: ProfileKind,
    /// Its own contact email, if any (a child often has none).
    pub email: Option<String>,
    /// Date of birth, `YYYY-MM-DD`, if given.
    pub birthdate: Option<String>,
}

impl Accounts {
    /// Adds a profile (a couple, a dependent…) to an account, after its existing ones,
    /// with a fresh random subject.
    pub async fn add_profile(
        &self,
        account_id: AccountId,
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
            birthdate: None,
        };
        Ok(profiles::insert_profile(&self.db, new, self.clock.now()).await?)
    }

    /// Adds a profile to the account with `email`, checking its fields, and records
    /// `profile_added` (`careid profile add`).
    pub async fn add_profile_to(
        &self,
        email: &str,
        fields: NewProfileFields,
    ) -> Result<Profile, AccountsError> {
        let account = self.account_by_email(email).await?;
        self.add_profile_for(account.id, fields).await
    }

    /// Adds a profile to the account `account_id`, checking its fields, and records
    /// `profile_added` (the admin API).
    pub async fn add_profile_for(
        &self,
        account_id: AccountId,
        fields: NewProfileFields,
    ) -> Result<Profile, AccountsError> {
        let name = checked_name(&fields.name)?;
        let profile_email = match fields.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(address) if address.len() <= 254 && careid_mail::is_valid_address(address) => {
                Some(address.to_lowercase())
            }
            Some(_) => {
                return Err(AccountsError::InvalidProfile {
                    field: "email",
                    why: "not an email address",
                });
            }
        };
        let birthdate = match fields.birthdate.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(checked_birthdate(text, self.clock.now().date())?),
        };
        let account = self.account_by_id(account_id).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        let new = NewProfile {
            account_id: account.id,
            subject: random_id(),
            kind: fields.kind.as_str().to_owned(),
            name,
            email: profile_email,
            birthdate,
        };
        let profile = profiles::insert_profile(&txn, new, now).await?;
        let added = audit::NewEvent {
            detail: json!({ "profile_id": profile.id, "subject": profile.subject, "kind": profile.kind }),
            ..event("profile_added", account.id)
        };
        audit::insert_event(&txn, added, now).await?;
        commit(txn).await?;
        Ok(profile)
    }

    /// The account with `email` and its profiles, self first.
    pub async fn profiles_of(&self, email: &str) -> Result<(Account, Vec<Profile>), AccountsError> {
        let account = self.account_by_email(email).await?;
        let all = self.profiles(account.id).await?;
        Ok((account, all))
    }

    /// Renames the profile `subject` of the account with `email` and records
    /// `profile_renamed`.
    pub async fn rename_profile(
        &self,
        email: &str,
        subject: &str,
        name: &str,
    ) -> Result<Profile, AccountsError> {
        let name = checked_name(name)?;
        let account = self.account_by_email(email).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        let profile = profiles::update_name(&txn, account.id, subject, &name)
            .await?
            .ok_or(AccountsError::UnknownProfile)?;
        let renamed = audit::NewEvent {
            detail: json!({ "profile_id": profile.id, "subject": profile.subject }),
            ..event("profile_renamed", account.id)
        };
        audit::insert_event(&txn, renamed, now).await?;
        commit(txn).await?;
        Ok(profile)
    }

    /// Removes the profile `subject` of the account with `email`, never its last one.
    /// In one transaction its refresh tokens are revoked, its consents and pairwise
    /// subjects end, and the sessions acting as it go back to choosing; access tokens
    /// already out name a subject that no longer answers at `/userinfo` or
    /// `/introspect`.
    pub async fn remove_profile(&self, email: &str, subject: &str) -> Result<(), AccountsError> {
        let account = self.account_by_email(email).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        // Held until the commit, so two removals on one account cannot each leave the
        // other's profile as the "remaining" one.
        accounts::find_by_id_for_update(&txn, account.id).await?;
        let profile = profiles::find_by_subject(&txn, subject)
            .await?
            .filter(|p| p.account_id == account.id)
            .ok_or(AccountsError::UnknownProfile)?;
        if !profiles::delete_unless_last(&txn, account.id, profile.id).await? {
            return Err(AccountsError::LastProfile);
        }
        let revoked = refresh_tokens::revoke_for_profile(&txn, account.id, profile.id, now).await?;
        consents::delete_for_profile(&txn, profile.id).await?;
        pairwise::delete_for_profile(&txn, profile.id).await?;
        let sessions = sessions::update_profile_unset(&txn, profile.id).await?;
        let removed = audit::NewEvent {
            detail: json!({
                "profile_id": profile.id,
                "subject": profile.subject,
                "refresh_tokens_revoked": revoked,
                "sessions_reset": sessions,
            }),
            ..event("profile_removed", account.id)
        };
        audit::insert_event(&txn, removed, now).await?;
        commit(txn).await
    }

    /// The account's profiles, self first.
    pub async fn profiles(&self, account_id: AccountId) -> Result<Vec<Profile>, AccountsError> {
        Ok(profiles::find_for_account(&self.db, account_id).await?)
    }

    /// The profile an application will see for this account: `chosen` (the one picked on
    /// the session) if it is the account's, else the account's only profile. `None`
    /// means the person must pick one first.
    pub async fn acting_profile(
        &self,
        account_id: AccountId,
        chosen: Option<ProfileId>,
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
        account_id: AccountId,
        session_id: i64,
        profile_id: ProfileId,
    ) -> Result<(), AccountsError> {
        // The statement itself checks the session's and the profile's owner, so no read
        // can go stale before the write.
        let txn = self.begin().await?;
        if !sessions::update_profile(&txn, session_id, account_id, profile_id).await? {
            return Err(AccountsError::UnknownProfile);
        }
        let chosen = audit::NewEvent {
            detail: json!({ "profile_id": profile_id, "session_id": session_id }),
            ..event("profile_chosen", account_id)
        };
        audit::insert_event(&txn, chosen, self.clock.now()).await?;
        commit(txn).await
    }

    /// The applications the account's profiles allowed, oldest consent first.
    pub async fn allowed_apps(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<AllowedApp>, AccountsError> {
        let profiles = self.profiles(account_id).await?;
        let ids: Vec<ProfileId> = profiles.iter().map(|p| p.id).collect();
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

/// A profile name as kept: trimmed, not empty, not overlong.
fn checked_name(name: &str) -> Result<String, AccountsError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AccountsError::InvalidProfile {
            field: "name",
            why: "a profile needs a name",
        });
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AccountsError::InvalidProfile {
            field: "name",
            why: "a profile name is at most 200 characters of text",
        });
    }
    Ok(name.to_owned())
}

/// A birthdate as OIDC Core §5.1 writes it (`YYYY-MM-DD`), a real calendar day no
/// later than `today`.
fn checked_birthdate(text: &str, today: Date) -> Result<String, AccountsError> {
    match calendar_date(text) {
        Some(date) if date <= today && date.year() >= 1900 => Ok(text.to_owned()),
        _ => Err(AccountsError::InvalidProfile {
            field: "birthdate",
            why: "a birthdate is a past date written YYYY-MM-DD",
        }),
    }
}

/// The calendar day `YYYY-MM-DD` names: four digits, two and two, a real day.
fn calendar_date(text: &str) -> Option<Date> {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return None;
    };
    let is_digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(year, 4) || !is_digits(month, 2) || !is_digits(day, 2) {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    fn dependent(name: &str, birthdate: Option<&str>) -> NewProfileFields {
        NewProfileFields {
            name: name.into(),
            kind: ProfileKind::Dependent,
            email: None,
            birthdate: birthdate.map(str::to_owned),
        }
    }

    #[test]
    fn a_birthdate_is_a_real_past_day_written_iso() {
        let today = time::macros::date!(2026 - 01 - 05);
        assert!(checked_birthdate("2015-02-28", today).is_ok());
        assert!(checked_birthdate("2026-01-05", today).is_ok());
        assert!(checked_birthdate("1900-01-01", today).is_ok());
        for bad in [
            "1899-12-31",
            "2015-02-29",
            "2026-01-06",
            "15-02-28",
            "2015/02/28",
            "2015-2-28",
            "",
        ] {
            assert!(checked_birthdate(bad, today).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_last_profile_cannot_be_removed_but_another_can() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let own = fx.accounts.profiles(ada.id).await.unwrap()[0].clone();
        let sam = fx
            .accounts
            .add_profile_to(
                "ada@clinic.example",
                dependent("Sam Okafor", Some("2016-03-01")),
            )
            .await
            .unwrap();
        assert_eq!(sam.birthdate.as_deref(), Some("2016-03-01"));
        fx.accounts
            .remove_profile("ada@clinic.example", &sam.subject)
            .await
            .unwrap();
        assert!(matches!(
            fx.accounts
                .remove_profile("ada@clinic.example", &own.subject)
                .await,
            Err(AccountsError::LastProfile)
        ));
        assert_eq!(fx.accounts.profiles(ada.id).await.unwrap(), vec![own]);
        let events = fx.events(ada.id).await;
        assert!(events.contains(&"profile_added".to_string()));
        assert!(events.contains(&"profile_removed".to_string()));
    }

    #[tokio::test]
    async fn another_accounts_profile_can_be_neither_renamed_nor_removed() {
        let fx = Fixture::new().await;
        fx.active("ada@clinic.example", PASSWORD).await;
        let bo = fx.active("bo@clinic.example", PASSWORD).await;
        let bos = fx.accounts.profiles(bo.id).await.unwrap()[0]
            .subject
            .clone();
        fx.accounts
            .add_profile_to("ada@clinic.example", dependent("Sam", None))
            .await
            .unwrap();
        assert!(matches!(
            fx.accounts
                .rename_profile("ada@clinic.example", &bos, "Eve")
                .await,
            Err(AccountsError::UnknownProfile)
        ));
        assert!(matches!(
            fx.accounts.remove_profile("ada@clinic.example", &bos).await,
            Err(AccountsError::UnknownProfile)
        ));
        let renamed = fx
            .accounts
            .rename_profile("bo@clinic.example", &bos, "Bo Lindqvist")
            .await
            .unwrap();
        assert_eq!(renamed.family_name.as_deref(), Some("Lindqvist"));
    }

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
        let session = fx.session(ada.id).await;
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
        let session = fx.session(ada.id).await;
        assert!(matches!(
            fx.accounts.choose_profile(ada.id, session.id, bos).await,
            Err(AccountsError::UnknownProfile)
        ));
        // Another account's session cannot be steered either.
        let bos_session = fx.session(bo.id).await;
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
        consents::upsert(
            &fx.accounts.db,
            own.id,
            &ClientId::from("app"),
            "openid email",
            now,
        )
        .await
        .unwrap();
        consents::upsert(
            &fx.accounts.db,
            sam.id,
            &ClientId::from("app"),
            "openid",
            now,
        )
        .await
        .unwrap();
        consents::upsert(
            &fx.accounts.db,
            bos,
            &ClientId::from("other"),
            "openid",
            now,
        )
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
