//! Passkeys (WebAuthn, issue 17): registering, naming and removing them, and signing in
//! with one, either as the second step after a password or on its own where the client
//! allows it (`sign_in_methods = ["passkey", …]`). The checks are webauthn-rs'; the rows
//! are `careid_store::passkeys`' and `careid_store::passkey_ceremonies`'.
//!
//! - The relying party is careid's issuer: its host is the RP id and its origin the only
//!   accepted origin ([`Accounts::with_passkeys`]). A host that is an IP address cannot be
//!   an RP id (WebAuthn §5.1.4.1 wants a domain), so such a server has no passkeys.
//! - Every ceremony's state is stored under the digest of a random handle the browser
//!   posts back, and taking it deletes it, so one challenge is answered once.
//! - A refused passkey counts towards the same lockout as a wrong password (as a wrong
//!   TOTP code does, `sign_in_code`).
//! - webauthn-rs' passkey ceremonies require user verification (a PIN or biometric on the
//!   authenticator), and careid checks the flag again before it says `mfa`.
//! - Registration asks for a discoverable credential (`residentKey: preferred`; webauthn-rs
//!   asks `discouraged`), so the same passkey also works for sign-in without an email. The
//!   server-side checks do not depend on it.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::{is_locked, one_time};
use careid_store::{
    AccountId, ClientId, PasskeyId, StoreError,
    accounts::{self, Status},
    audit,
    passkey_ceremonies::{self, NewCeremony},
    passkeys::{self, NewPasskey, SecondFactors, StoredPasskey},
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use crate::{
    Accounts, AccountsError, SignInError,
    service::{commit, event},
    sign_in::{Origin, count_sign_in},
};

/// How long a browser has to answer a ceremony: the authenticator's own timeout
/// (webauthn-rs asks for five minutes) and some slack.
const CEREMONY_MINUTES: i64 = 10;
/// The longest name a passkey may have, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Ceremony purposes.
const REGISTER: &str = "register";
const SECOND_FACTOR: &str = "second_factor";
const SIGN_IN: &str = "sign_in";

/// careid as a WebAuthn relying party: webauthn-rs over the issuer's host and origin.
pub struct RelyingParty(Webauthn);

impl RelyingParty {
    /// The relying party of an issuer such as `https://id.clinic.example`: RP id
    /// `id.clinic.example`, origin `https://id.clinic.example`. `None` for an issuer whose
    /// host is not a domain name (an IP address), which WebAuthn does not allow.
    pub fn for_issuer(issuer: &str, name: &str) -> Option<Self> {
        let origin = Url::parse(issuer).ok()?;
        let rp_id = origin.domain()?.to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .ok()?
            .rp_name(name)
            .build()
            .ok()?;
        Some(Self(webauthn))
    }
}

impl fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelyingParty")
    }
}

/// A registered passkey, as the account page and `careid user show` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySummary {
    /// Its id, for renaming and removal.
    pub id: PasskeyId,
    /// What the person called it.
    pub name: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last signed in, if ever.
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<&StoredPasskey> for PasskeySummary {
    fn from(row: &StoredPasskey) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// What the browser needs to start a ceremony: the handle to post back (`ceremony`) and
/// the options for `navigator.credentials` (`publicKey`, WebAuthn's JSON form).
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyOptions(serde_json::Value);

impl PasskeyOptions {
    /// `{"ceremony": …, "publicKey": {…}}`, as the page's script reads it.
    pub fn into_json(self) -> serde_json::Value {
        self.0
    }
}

/// A passkey sign-in without a password that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasskeySignIn {
    /// The account signed in.
    pub account_id: AccountId,
    /// Whether the authenticator verified the person (PIN or biometric), so that the
    /// passkey alone is two factors: something she has, and something she knows or is.
    pub is_user_verified: bool,
}

/// A registration's state, with the user handle it was started for.
#[derive(Serialize, Deserialize)]
struct Registration {
    user_handle: Uuid,
    state: PasskeyRegistration,
}

impl Accounts {
    /// Lets the account service register and check passkeys for this relying party;
    /// without one (`None`) every passkey operation is `PasskeysUnavailable`.
    pub fn with_passkeys(mut self, relying_party: Option<RelyingParty>) -> Self {
        self.relying_party = relying_party.map(Box::new);
        self
    }

    /// Whether this server can use passkeys at all (its issuer is a domain name).
    pub fn has_passkey_support(&self) -> bool {
        self.relying_party.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, AccountsError> {
        self.relying_party
            .as_deref()
            .map(|rp| &rp.0)
            .ok_or(AccountsError::PasskeysUnavailable)
    }

    /// The account's passkeys, oldest first.
    pub async fn passkeys(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<PasskeySummary>, AccountsError> {
        let rows = passkeys::find_for_account(&self.db, account_id).await?;
        Ok(rows.iter().map(PasskeySummary::from).collect())
    }

    /// Which second factors the account has.
    pub async fn second_factors(
        &self,
        account_id: AccountId,
    ) -> Result<SecondFactors, AccountsError> {
        Ok(passkeys::find_second_factors(&self.db, account_id).await?)
    }

    /// The second factors of the account whose sign-in waits under `challenge`, or
    /// `None` when no sign-in is waiting there.
    pub async fn waiting_second_factors(
        &self,
        challenge: &str,
    ) -> Result<Option<SecondFactors>, AccountsError> {
        match self.waiting_sign_in(challenge).await {
            Ok((_, account)) => Ok(Some(self.second_factors(account.id).await?)),
            Err(SignInError::Internal(err)) => Err(AccountsError::PasskeyFailure(err)),
            Err(SignInError::Busy) => Err(AccountsError::Busy),
            Err(_) => Ok(None),
        }
    }

    /// Starts registering a passkey for the account: the options for
    /// `navigator.credentials.create`. The authenticator shows `email` and `display_name`;
    /// the account's passkeys are excluded, so one authenticator is not registered twice.
    pub async fn start_passkey_registration(
        &self,
        account_id: AccountId,
        email: &str,
        display_name: &str,
    ) -> Result<PasskeyOptions, AccountsError> {
        let webauthn = self.webauthn()?;
        let existing = passkeys::find_for_account(&self.db, account_id).await?;
        // One user handle per account (WebAuthn §14.6.1: random, no personal data), so
        // an authenticator keeps one credential per account and replaces it on re-adding.
        let user_handle = existing
            .first()
            .and_then(|row| Uuid::parse_str(&row.user_handle).ok())
            .unwrap_or_else(new_user_handle);
        let exclude = existing
            .iter()
            .filter_map(|row| decode(row).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect();
        let (options, state) = webauthn
            .start_passkey_registration(user_handle, email, display_name, Some(exclude))
            .map_err(|err| AccountsError::PasskeyFailure(format!("passkey registration: {err}")))?;
        let state = to_json(&Registration { user_handle, state })?;
        let mut options = self
            .ceremony(REGISTER, Some(account_id), state, &options)
            .await?;
        // A discoverable credential also signs in without an email (see the module doc).
        if let Some(selection) = options
            .0
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        Ok(options)
    }

    /// Finishes a registration started by [`Self::start_passkey_registration`] with the
    /// browser's `credential` (the `PublicKeyCredential` as JSON) and stores the passkey
    /// under `name`. Audited as `passkey_registered`, or `passkey_registration_failed`.
    pub async fn finish_passkey_registration(
        &self,
        account_id: AccountId,
        ceremony: &str,
        name: &str,
        credential: &str,
        ip: Option<String>,
    ) -> Result<PasskeySummary, AccountsError> {
        let webauthn = self.webauthn()?;
        let name = passkey_name(name)?;
        let now = self.clock.now();
        let checked = async {
            let credential: RegisterPublicKeyCredential =
                serde_json::from_str(credential).map_err(|_| "unreadable_credential")?;
            let found = passkey_ceremonies::take_ceremony(
                &self.db,
                &one_time::digest(ceremony),
                REGISTER,
                now,
            )
            .await
            .map_err(|_| "store")?
            .filter(|c| c.account_id == Some(account_id))
            .ok_or("unknown_ceremony")?;
            let registration: Registration =
                serde_json::from_str(&found.state).map_err(|_| "unreadable_ceremony")?;
            let passkey = webauthn
                .finish_passkey_registration(&credential, &registration.state)
                .map_err(|err| {
                    tracing::info!(%err, "passkey registration refused");
                    "not_verified"
                })?;
            Ok::<_, &'static str>((registration.user_handle, passkey))
        }
        .await;
        let (user_handle, passkey) = match checked {
            Ok(done) => done,
            Err(reason) => {
                let failed = audit::NewEvent {
                    ip,
                    detail: json!({ "reason": reason }),
                    ..event("passkey_registration_failed", account_id)
                };
                audit::insert_event(&self.db, failed, now).await?;
                return Err(AccountsError::PasskeyRejected);
            }
        };
        let new = NewPasskey {
            account_id,
            user_handle: user_handle.to_string(),
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
            name,
            passkey: encode(&passkey)?,
        };
        let txn = self.begin().await?;
        let stored = match passkeys::insert_passkey(&txn, new, now).await {
            Ok(stored) => stored,
            Err(StoreError::Duplicate) => return Err(AccountsError::PasskeyTaken),
            Err(err) => return Err(err.into()),
        };
        let registered = audit::NewEvent {
            ip,
            detail: json!({ "passkey_id": stored.id, "name": stored.name }),
            ..event("passkey_registered", account_id)
        };
        audit::insert_event(&txn, registered, now).await?;
        commit(txn).await?;
        Ok(PasskeySummary::from(&stored))
    }

    /// Renames one of the account's passkeys.
    pub async fn rename_passkey(
        &self,
        account_id: AccountId,
        id: PasskeyId,
        name: &str,
    ) -> Result<(), AccountsError> {
        let name = passkey_name(name)?;
        if !passkeys::update_name(&self.db, account_id, id, &name).await? {
            return Err(AccountsError::UnknownPasskey);
        }
        Ok(())
    }

    /// Removes one of the account's passkeys: it no longer signs in. Audited as
    /// `passkey_removed`.
    pub async fn remove_passkey(
        &self,
        account_id: AccountId,
        id: PasskeyId,
        ip: Option<String>,
    ) -> Result<(), AccountsError> {
        let now = self.clock.now();
        let txn = self.begin().await?;
        if !passkeys::delete_passkey(&txn, account_id, id).await? {
            return Err(AccountsError::UnknownPasskey);
        }
        let removed = audit::NewEvent {
            ip,
            detail: json!({ "passkey_id": id }),
            ..event("passkey_removed", account_id)
        };
        audit::insert_event(&txn, removed, now).await?;
        commit(txn).await
    }

    /// The options for the passkey step of the sign-in waiting under `challenge` (after
    /// the password): the account's passkeys are the allowed credentials.
    pub async fn start_passkey_second_factor(
        &self,
        challenge: &str,
    ) -> Result<PasskeyOptions, SignInError> {
        let webauthn = self.webauthn()?;
        let (_, account) = self.waiting_sign_in(challenge).await?;
        let keys: Vec<Passkey> = passkeys::find_for_account(&self.db, account.id)
            .await?
            .iter()
            .filter_map(|row| decode(row).ok())
            .collect();
        if keys.is_empty() {
            return Err(SignInError::PasskeyRejected);
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&keys)
            .map_err(|err| SignInError::Internal(format!("passkey sign-in: {err}")))?;
        let state = to_json(&state)?;
        Ok(self
            .ceremony(SECOND_FACTOR, Some(account.id), state, &options)
            .await?)
    }

    /// The passkey step after a password: `credential` answers the ceremony `ceremony`
    /// for the sign-in waiting under `challenge`. The account id on success; the challenge
    /// is then used up and the sign-in recorded (`factor: passkey`). A refusal counts
    /// towards the lockout.
    pub async fn sign_in_passkey_second_factor(
        &self,
        challenge: &str,
        ceremony: &str,
        credential: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<AccountId, SignInError> {
        let origin = Origin::new(client_id, ip);
        let outcome = self
            .check_second_factor_passkey(challenge, ceremony, credential, &origin)
            .await;
        count_sign_in("passkey", &outcome, SignInError::metric_result);
        outcome
    }

    async fn check_second_factor_passkey(
        &self,
        challenge: &str,
        ceremony: &str,
        credential: &str,
        origin: &Origin,
    ) -> Result<AccountId, SignInError> {
        let webauthn = self.webauthn()?;
        let now = self.clock.now();
        let (token, account) = self.waiting_sign_in(challenge).await?;
        if is_locked(account.locked_until, now) {
            let until = account.locked_until.unwrap_or(now);
            self.record_failure(&account, origin, now, "wrong_passkey")
                .await?;
            return Err(SignInError::Locked { until });
        }
        let digest = one_time::digest(ceremony);
        let found = passkey_ceremonies::take_ceremony(&self.db, &digest, SECOND_FACTOR, now)
            .await?
            .filter(|c| c.account_id == Some(account.id));
        let verified = found.and_then(|found| {
            let state: PasskeyAuthentication = serde_json::from_str(&found.state).ok()?;
            let credential: PublicKeyCredential = serde_json::from_str(credential).ok()?;
            webauthn
                .finish_passkey_authentication(&credential, &state)
                .inspect_err(|err| tracing::info!(%err, "passkey refused"))
                .ok()
        });
        let Some(result) = verified else {
            self.record_failure(&account, origin, now, "wrong_passkey")
                .await?;
            return Err(SignInError::PasskeyRejected);
        };
        let credential_id = URL_SAFE_NO_PAD.encode(result.cred_id().as_slice());
        let row = passkeys::find_by_credential_id(&self.db, &credential_id)
            .await?
            .filter(|row| row.account_id == account.id)
            .ok_or(SignInError::PasskeyRejected)?;
        let mut passkey = decode(&row)?;
        passkey.update_credential(&result);
        let txn = self.begin().await?;
        if !passkeys::update_used(&txn, row.id, encode(&passkey)?, now).await? {
            return Err(SignInError::PasskeyRejected);
        }
        self.finish_code_sign_in(txn, &account, &token, origin, "passkey")
            .await?;
        Ok(account.id)
    }

    /// The options for a sign-in with a passkey alone: no account is named, so the
    /// browser offers the discoverable passkeys it holds for careid.
    pub async fn start_passkey_sign_in(&self) -> Result<PasskeyOptions, AccountsError> {
        let webauthn = self.webauthn()?;
        let (mut options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|err| AccountsError::PasskeyFailure(format!("passkey sign-in: {err}")))?;
        // webauthn-rs asks for conditional mediation (autofill); careid's page starts
        // the ceremony from a button, which is a modal request.
        options.mediation = None;
        let state = serde_json::to_string(&state)
            .map_err(|err| AccountsError::PasskeyFailure(err.to_string()))?;
        self.ceremony(SIGN_IN, None, state, &options).await
    }

    /// A sign-in with a passkey alone, for `client_id` from `ip`: `credential` answers the
    /// ceremony `ceremony`. As with a password, an account's state (disabled, expired,
    /// invited, locked) is told only after its passkey was verified, except the lock,
    /// which holds whatever is presented; a refusal counts towards the lockout.
    pub async fn sign_in_passkey(
        &self,
        ceremony: &str,
        credential: &str,
        client_id: Option<&ClientId>,
        ip: Option<String>,
    ) -> Result<PasskeySignIn, SignInError> {
        let origin = Origin::new(client_id, ip);
        let outcome = self.check_passkey(ceremony, credential, &origin).await;
        count_sign_in("passkey", &outcome, SignInError::metric_result);
        outcome
    }

    async fn check_passkey(
        &self,
        ceremony: &str,
        credential: &str,
        origin: &Origin,
    ) -> Result<PasskeySignIn, SignInError> {
        let webauthn = self.webauthn()?;
        let now = self.clock.now();
        let digest = one_time::digest(ceremony);
        let found = passkey_ceremonies::take_ceremony(&self.db, &digest, SIGN_IN, now).await?;
        let parsed = serde_json::from_str::<PublicKeyCredential>(credential).ok();
        let identified = parsed.as_ref().and_then(|credential| {
            webauthn
                .identify_discoverable_authentication(credential)
                .ok()
                .map(|(handle, id)| (handle, URL_SAFE_NO_PAD.encode(id)))
        });
        let row = match &identified {
            Some((_, credential_id)) => {
                passkeys::find_by_credential_id(&self.db, credential_id).await?
            }
            None => None,
        };
        let known = row.as_ref().map(|row| row.account_id);
        let (Some(found), Some(credential), Some((handle, _)), Some(row)) =
            (found, parsed, identified, row)
        else {
            // A passkey careid does not know, or an answer to a challenge that is gone
            // (used, expired, never issued): nothing was verified, so nothing counts
            // towards a lockout, but the account a known passkey names hears of it.
            let reason = if known.is_some() {
                "unknown_challenge"
            } else {
                "unknown_passkey"
            };
            let detail = json!({ "reason": reason });
            audit::insert_event(&self.db, origin.event("sign_in_failed", known, detail), now)
                .await?;
            return Err(SignInError::PasskeyRejected);
        };
        let Some(mut account) = accounts::find_by_id(&self.db, row.account_id).await? else {
            return Err(SignInError::PasskeyRejected);
        };
        self.expire_if_idle(&mut account, now).await?;
        if account.status() == Status::Active && is_locked(account.locked_until, now) {
            let until = account.locked_until.unwrap_or(now);
            self.record_failure(&account, origin, now, "wrong_passkey")
                .await?;
            return Err(SignInError::Locked { until });
        }
        let mut passkey = decode(&row)?;
        let verified = (row.user_handle == handle.to_string())
            .then(|| serde_json::from_str::<DiscoverableAuthentication>(&found.state).ok())
            .flatten()
            .and_then(|state| {
                webauthn
                    .finish_discoverable_authentication(
                        &credential,
                        state,
                        &[DiscoverableKey::from(&passkey)],
                    )
                    .inspect_err(|err| tracing::info!(%err, "passkey refused"))
                    .ok()
            });
        let Some(result) = verified else {
            self.record_failure(&account, origin, now, "wrong_passkey")
                .await?;
            return Err(SignInError::PasskeyRejected);
        };
        let refusal = match account.status() {
            Status::Invited => Some(SignInError::NotActivated),
            Status::Disabled => Some(SignInError::Disabled),
            Status::Expired => Some(SignInError::Expired),
            Status::Active => None,
        };
        if let Some(refusal) = refusal {
            let detail = json!({ "reason": refusal.metric_result() });
            let event = origin.event("sign_in_failed", Some(account.id), detail);
            audit::insert_event(&self.db, event, now).await?;
            return Err(refusal);
        }
        passkey.update_credential(&result);
        let is_user_verified = result.user_verified();
        let txn = self.begin().await?;
        if !passkeys::update_used(&txn, row.id, encode(&passkey)?, now).await? {
            return Err(SignInError::PasskeyRejected);
        }
        accounts::update_signed_in(&txn, account.id, None, now)
            .await?
            .ok_or_else(|| SignInError::Internal("account vanished during sign-in".into()))?;
        let detail = json!({
            "factor": "passkey",
            "passkey_id": row.id,
            "user_verified": is_user_verified,
        });
        audit::insert_event(&txn, origin.event("sign_in", Some(account.id), detail), now).await?;
        commit(txn).await?;
        Ok(PasskeySignIn {
            account_id: account.id,
            is_user_verified,
        })
    }

    /// Stores a ceremony's `state` and returns the browser's options with its handle.
    async fn ceremony(
        &self,
        purpose: &'static str,
        account_id: Option<AccountId>,
        state: String,
        options: &impl Serialize,
    ) -> Result<PasskeyOptions, AccountsError> {
        let handle = one_time::new_token();
        let now = self.clock.now();
        let new = NewCeremony {
            digest: one_time::digest(&handle),
            purpose,
            account_id,
            state,
            expires_at: now + Duration::minutes(CEREMONY_MINUTES),
        };
        passkey_ceremonies::insert_ceremony(&self.db, new).await?;
        let mut json = serde_json::to_value(options)
            .map_err(|err| AccountsError::PasskeyFailure(err.to_string()))?;
        if let Some(object) = json.as_object_mut() {
            object.insert("ceremony".into(), handle.into());
        }
        Ok(PasskeyOptions(json))
    }
}

/// A trimmed passkey name of 1 to [`MAX_NAME_CHARS`] characters.
fn passkey_name(name: &str) -> Result<String, AccountsError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AccountsError::InvalidPasskeyName);
    }
    Ok(name.to_owned())
}

/// A fresh random user handle (a version 4 UUID's bits).
fn new_user_handle() -> Uuid {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    // RFC 9562 §5.4: version 4, variant 10.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

fn decode(row: &StoredPasskey) -> Result<Passkey, AccountsError> {
    serde_json::from_str(&row.passkey).map_err(|err| {
        AccountsError::PasskeyFailure(format!("passkey {} unreadable: {err}", row.id))
    })
}

fn encode(passkey: &Passkey) -> Result<String, AccountsError> {
    serde_json::to_string(passkey).map_err(|err| AccountsError::PasskeyFailure(err.to_string()))
}

fn to_json(state: &impl Serialize) -> Result<String, AccountsError> {
    serde_json::to_string(state).map_err(|err| AccountsError::PasskeyFailure(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_on_an_ip_address_has_no_relying_party() {
        assert!(RelyingParty::for_issuer("http://127.0.0.1:8080", "careid").is_none());
        assert!(RelyingParty::for_issuer("https://id.clinic.example", "careid").is_some());
        assert!(RelyingParty::for_issuer("http://localhost:8080", "careid").is_some());
    }

    #[test]
    fn a_name_of_64_characters_is_kept_and_65_is_refused() {
        let at_limit = "é".repeat(MAX_NAME_CHARS);
        assert_eq!(passkey_name(&format!(" {at_limit} ")).unwrap(), at_limit);
        assert!(matches!(
            passkey_name(&"é".repeat(MAX_NAME_CHARS + 1)),
            Err(AccountsError::InvalidPasskeyName)
        ));
        assert!(passkey_name("  ").is_err());
        assert!(passkey_name("a\nb").is_err());
    }

    #[test]
    fn a_user_handle_is_a_version_4_uuid() {
        let handle = new_user_handle();
        assert_eq!(handle.get_version_num(), 4);
        assert_ne!(handle, new_user_handle());
    }
}
