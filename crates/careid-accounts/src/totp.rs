//! TOTP second factor (issue 17): enrolment and its confirmation. The code rules
//! (RFC 6238) are [`careid_policy::totp`]'s; the rows are `careid_store::totp_factors`'.
//!
//! The secret must be readable by careid (it computes the codes), so it is sealed rather
//! than hashed, with AES-256-GCM and the account id as associated data (a sealed secret
//! copied onto another account does not open). Like the signing keys, it is sealed under
//! the key-encryption key when one is configured (`CAREID_KEK`, or a file): the key is
//! derived from the KEK (`totp2:` secrets), so a copy of the database or its backups
//! cannot read them. Without a KEK it is sealed under the installation's `totp_key`
//! install secret (`totp1:`), which keeps secrets out of plain sight but lives in the
//! same database. A `totp1:` secret stored before a KEK was configured still opens.
//!
//! An enrolment counts only once the person types one current code: until then the row
//! is unconfirmed and sign-in does not ask for codes.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::{one_time, recovery, totp};
use careid_store::Tx;
use careid_store::{
    accounts::{self, Account},
    audit, passkeys, recovery_codes, totp_factors,
};
use rand::RngCore;
use time::OffsetDateTime;

use crate::{
    AccountId, Accounts, AccountsError,
    service::{commit, event},
};

/// The `install_secrets` name of the key TOTP secrets are sealed with.
const TOTP_KEY: &str = "totp_key";
/// The prefix of a secret sealed under the `totp_key` install secret.
const INSTALL_PREFIX: &str = "totp1:";
/// The prefix of a secret sealed under the key derived from the KEK.
const KEK_PREFIX: &str = "totp2:";
/// AES-GCM's nonce: 96 bits, random per seal (NIST SP 800-38D §8.2.2).
const NONCE_BYTES: usize = 12;

/// Where an account stands with TOTP.
#[derive(Clone, PartialEq, Eq)]
pub enum TotpEnrolment {
    /// Confirmed: sign-in asks for a code.
    Confirmed,
    /// Under way: the `otpauth://` URI to add to an authenticator app, then one code.
    Pending {
        /// The `otpauth://totp/…` URI, holding the secret.
        uri: String,
    },
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Confirmed => f.write_str("Confirmed"),
            Self::Pending { .. } => f.write_str("Pending(***)"),
        }
    }
}

/// Recovery codes just made: shown to the person once, stored only as digests, never
/// logged.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes(Vec<String>);

impl RecoveryCodes {
    /// The codes, as the person writes them down.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} x ***)", self.0.len())
    }
}

/// Makes a fresh set of recovery codes for the account, replacing the old set, in `txn`.
async fn replace_recovery_codes(
    txn: &Tx,
    account_id: AccountId,
    now: OffsetDateTime,
) -> Result<RecoveryCodes, AccountsError> {
    let codes: Vec<String> = (0..recovery::COUNT).map(|_| recovery::new_code()).collect();
    let digests = codes
        .iter()
        .filter_map(|code| recovery::normalise(code))
        .map(|plain| one_time::digest(&plain))
        .collect();
    recovery_codes::replace_for_account(txn, account_id, digests, now).await?;
    Ok(RecoveryCodes(codes))
}

impl Accounts {
    /// The account's TOTP enrolment, starting one (a fresh secret) if it has none. The
    /// URI names `issuer` and labels the secret with `email`. Showing the page again
    /// shows the same secret until the enrolment is confirmed.
    pub async fn totp_enrolment(
        &self,
        account_id: AccountId,
        email: &str,
        issuer: &str,
    ) -> Result<TotpEnrolment, AccountsError> {
        let sealers = self.totp_sealers().await?;
        if let Some(found) = totp_factors::find_by_account(&self.db, account_id).await? {
            if found.is_confirmed() {
                return Ok(TotpEnrolment::Confirmed);
            }
            let secret = sealers.open(account_id, &found.sealed_secret)?;
            return Ok(TotpEnrolment::Pending {
                uri: totp::uri(issuer, email, &secret),
            });
        }
        let secret = totp::new_secret();
        let sealed = sealers.seal(account_id, &secret)?;
        let now = self.clock.now();
        if !totp_factors::insert_pending(&self.db, account_id, sealed, now).await? {
            // Another request started (or finished) an enrolment first: show that one.
            return Box::pin(self.totp_enrolment(account_id, email, issuer)).await;
        }
        Ok(TotpEnrolment::Pending {
            uri: totp::uri(issuer, email, &secret),
        })
    }

    /// Confirms the account's enrolment under way with a current `code`; from then on
    /// sign-in asks for codes. The step of `code` counts as used. The account's ten
    /// recovery codes come back, to be shown this once.
    pub async fn confirm_totp(
        &self,
        account_id: AccountId,
        code: &str,
        ip: Option<String>,
    ) -> Result<RecoveryCodes, AccountsError> {
        let sealers = self.totp_sealers().await?;
        let found = totp_factors::find_by_account(&self.db, account_id)
            .await?
            .filter(|f| !f.is_confirmed())
            .ok_or(AccountsError::NoTotpEnrolment)?;
        let secret = sealers.open(account_id, &found.sealed_secret)?;
        let now = self.clock.now();
        let Some(step) = totp::matching_step(&secret, code, now, None) else {
            return Err(AccountsError::TotpCodeWrong);
        };
        let txn = self.begin().await?;
        if !totp_factors::update_confirmed(&txn, account_id, step, now).await? {
            return Err(AccountsError::NoTotpEnrolment);
        }
        let codes = replace_recovery_codes(&txn, account_id, now).await?;
        let confirmed = audit::NewEvent {
            ip,
            ..event("totp_enrolled", account_id)
        };
        audit::insert_event(&txn, confirmed, now).await?;
        commit(txn).await?;
        Ok(codes)
    }

    /// A new set of recovery codes for an account with a confirmed authenticator app;
    /// the old codes stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        account_id: AccountId,
        ip: Option<String>,
    ) -> Result<RecoveryCodes, AccountsError> {
        if !self.has_totp(account_id).await? {
            return Err(AccountsError::NoTotpEnrolment);
        }
        let now = self.clock.now();
        let txn = self.begin().await?;
        let codes = replace_recovery_codes(&txn, account_id, now).await?;
        let made = audit::NewEvent {
            ip,
            ..event("recovery_codes_regenerated", account_id)
        };
        audit::insert_event(&txn, made, now).await?;
        commit(txn).await?;
        Ok(codes)
    }

    /// Removes every second factor of the account `id` (its authenticator app, recovery
    /// codes and passkeys), for staff whose phone is lost: the next sign-in takes the
    /// password alone. Audited as `mfa_reset`.
    pub async fn reset_mfa(&self, id: AccountId) -> Result<Account, AccountsError> {
        let account = self.find_account(id).await?;
        let now = self.clock.now();
        let txn = self.begin().await?;
        let had_totp = totp_factors::delete_for_account(&txn, account.id).await?;
        let recovery = recovery_codes::delete_for_account(&txn, account.id).await?;
        let passkeys = passkeys::delete_for_account(&txn, account.id).await?;
        let reset = audit::NewEvent {
            detail: serde_json::json!({
                "had_totp": had_totp,
                "recovery_codes": recovery,
                "passkeys": passkeys,
            }),
            ..event("mfa_reset", account.id)
        };
        audit::insert_event(&txn, reset, now).await?;
        commit(txn).await?;
        Ok(account)
    }

    /// Requires (or, with `false`, stops requiring) a second factor of the account `id`,
    /// whichever client she signs in to: from her next authorization request on, a
    /// session without one gets no code, and a person without an authenticator app adds
    /// one first. Audited as `require_mfa_changed`, also when nothing changes (an
    /// administrator's retry must not fail).
    pub async fn set_require_mfa(
        &self,
        id: AccountId,
        require_mfa: bool,
    ) -> Result<Account, AccountsError> {
        let now = self.clock.now();
        let txn = self.begin().await?;
        let account = accounts::find_by_id_for_update(&txn, id)
            .await?
            .ok_or(AccountsError::UnknownAccount)?;
        let updated = accounts::update_require_mfa(&txn, account.id, require_mfa, now)
            .await?
            .ok_or(AccountsError::UnknownAccount)?;
        let changed = audit::NewEvent {
            detail: serde_json::json!({
                "require_mfa": require_mfa,
                "previous": account.require_mfa,
            }),
            ..event("require_mfa_changed", account.id)
        };
        audit::insert_event(&txn, changed, now).await?;
        commit(txn).await?;
        Ok(updated)
    }

    /// How many of the account's recovery codes are still unused.
    pub async fn unused_recovery_codes(&self, account_id: AccountId) -> Result<u64, AccountsError> {
        Ok(recovery_codes::count_unused(&self.db, account_id).await?)
    }

    /// Whether the account has a confirmed TOTP factor.
    pub async fn has_totp(&self, account_id: AccountId) -> Result<bool, AccountsError> {
        Ok(totp_factors::find_by_account(&self.db, account_id)
            .await?
            .is_some_and(|f| f.is_confirmed()))
    }

    /// The account's TOTP secret, opened.
    pub(crate) async fn open_totp_secret(
        &self,
        account_id: AccountId,
        sealed: &str,
    ) -> Result<Vec<u8>, AccountsError> {
        self.totp_sealers().await?.open(account_id, sealed)
    }

    async fn totp_sealers(&self) -> Result<Sealers, AccountsError> {
        let key = self.install_secret(TOTP_KEY).await?;
        let bytes = URL_SAFE_NO_PAD
            .decode(key)
            .map_err(|_| AccountsError::TotpSealing("the TOTP key is not base64url"))?;
        let install = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| AccountsError::TotpSealing("the TOTP key is not 256 bits"))?;
        let kek = self
            .totp_kek
            .as_ref()
            .map(|key| Aes256Gcm::new_from_slice(key.as_slice()))
            .transpose()
            .map_err(|_| AccountsError::TotpSealing("the KEK's TOTP key is not 256 bits"))?;
        Ok(Sealers { install, kek })
    }
}

/// The keys TOTP secrets are sealed with: the install secret's, and the KEK's when one is
/// configured (new secrets are sealed under it).
struct Sealers {
    install: Aes256Gcm,
    kek: Option<Aes256Gcm>,
}

impl Sealers {
    fn seal(&self, account_id: AccountId, secret: &[u8]) -> Result<String, AccountsError> {
        match &self.kek {
            Some(kek) => seal(kek, KEK_PREFIX, account_id, secret),
            None => seal(&self.install, INSTALL_PREFIX, account_id, secret),
        }
    }

    fn open(&self, account_id: AccountId, stored: &str) -> Result<Vec<u8>, AccountsError> {
        if stored.starts_with(KEK_PREFIX) {
            let kek = self.kek.as_ref().ok_or(AccountsError::TotpSealing(
                "a TOTP secret is sealed under the key-encryption key, which is not configured",
            ))?;
            open(kek, KEK_PREFIX, account_id, stored)
        } else {
            open(&self.install, INSTALL_PREFIX, account_id, stored)
        }
    }
}

/// The associated data of an account's sealed secret.
fn aad(account_id: AccountId) -> String {
    format!("totp:{account_id}")
}

/// Seals `secret` for `account_id`: `prefix` and base64url of nonce ‖ ciphertext ‖ tag.
fn seal(
    cipher: &Aes256Gcm,
    prefix: &str,
    account_id: AccountId,
    secret: &[u8],
) -> Result<String, AccountsError> {
    let mut nonce = [0_u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let aad = aad(account_id);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| AccountsError::TotpSealing("sealing failed"))?;
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&sealed);
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(stored)))
}

/// Opens a secret sealed by [`seal`] with the same key and prefix, for the same account.
fn open(
    cipher: &Aes256Gcm,
    prefix: &str,
    account_id: AccountId,
    stored: &str,
) -> Result<Vec<u8>, AccountsError> {
    let refused = || AccountsError::TotpSealing("a stored TOTP secret does not open");
    let encoded = stored.strip_prefix(prefix).ok_or_else(refused)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| refused())?;
    if bytes.len() < NONCE_BYTES {
        return Err(refused());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let aad = aad(account_id);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    fn secret_of(uri: &str) -> Vec<u8> {
        let secret = uri
            .split(['?', '&'])
            .find_map(|part| part.strip_prefix("secret="))
            .unwrap();
        totp::from_base32(secret).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account() {
        let cipher = Aes256Gcm::new_from_slice(&[7_u8; 32]).unwrap();
        let sealed = seal(&cipher, INSTALL_PREFIX, AccountId::new(1), b"secret").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(
            open(&cipher, INSTALL_PREFIX, AccountId::new(1), &sealed).unwrap(),
            b"secret"
        );
        assert!(open(&cipher, INSTALL_PREFIX, AccountId::new(2), &sealed).is_err());
    }

    async fn pending(
        fx: &Fixture,
        id: AccountId,
        email: &str,
    ) -> Result<TotpEnrolment, AccountsError> {
        fx.accounts.totp_enrolment(id, email, "careid").await
    }

    async fn sealed(fx: &Fixture, id: AccountId) -> String {
        totp_factors::find_by_account(&fx.accounts.db, id)
            .await
            .unwrap()
            .unwrap()
            .sealed_secret
    }

    #[tokio::test]
    async fn with_a_kek_the_database_alone_cannot_open_a_secret() {
        let mut fx = Fixture::new().await;
        let ada = fx.active("ada@example.org", "Willow-Creek-17").await.id;
        let bo = fx.active("bo@example.org", "Willow-Creek-17").await.id;
        // Bo enrols before a KEK is configured: under the install secret.
        let before = pending(&fx, bo, "bo@example.org").await.unwrap();
        assert!(sealed(&fx, bo).await.starts_with(INSTALL_PREFIX));

        fx.accounts.totp_kek = Some(Box::new([9_u8; 32]));
        let ada_uri = pending(&fx, ada, "ada@example.org").await.unwrap();
        assert!(sealed(&fx, ada).await.starts_with(KEK_PREFIX));
        // Bo's older secret still opens: the same URI is shown again.
        assert_eq!(pending(&fx, bo, "bo@example.org").await.unwrap(), before);

        // The same database without the KEK (a copy, a backup): Ada's secret stays shut.
        fx.accounts.totp_kek = None;
        assert!(matches!(
            pending(&fx, ada, "ada@example.org").await,
            Err(AccountsError::TotpSealing(_))
        ));
        // Another KEK does not open it either.
        fx.accounts.totp_kek = Some(Box::new([8_u8; 32]));
        assert!(pending(&fx, ada, "ada@example.org").await.is_err());
        fx.accounts.totp_kek = Some(Box::new([9_u8; 32]));
        assert_eq!(pending(&fx, ada, "ada@example.org").await.unwrap(), ada_uri);
    }

    #[tokio::test]
    async fn an_enrolment_counts_only_after_a_current_code() {
        let fx = Fixture::new().await;
        let id = fx.active("ada@example.org", "Willow-Creek-17").await.id;
        let TotpEnrolment::Pending { uri } = fx
            .accounts
            .totp_enrolment(id, "ada@example.org", "careid")
            .await
            .unwrap()
        else {
            panic!("a new enrolment is pending");
        };
        // The page shown again shows the same secret.
        let again = fx
            .accounts
            .totp_enrolment(id, "ada@example.org", "careid")
            .await
            .unwrap();
        assert_eq!(again, TotpEnrolment::Pending { uri: uri.clone() });
        assert!(!fx.accounts.has_totp(id).await.unwrap());

        let secret = secret_of(&uri);
        let now = fx.clock_now();
        let stale = totp::code_at(&secret, totp::step_at(now) - 2);
        assert!(matches!(
            fx.accounts.confirm_totp(id, &stale, None).await,
            Err(AccountsError::TotpCodeWrong)
        ));
        let current = totp::code_at(&secret, totp::step_at(now));
        let codes = fx.accounts.confirm_totp(id, &current, None).await.unwrap();
        assert_eq!(codes.as_slice().len(), 10);
        assert_eq!(fx.accounts.unused_recovery_codes(id).await.unwrap(), 10);
        assert!(fx.accounts.has_totp(id).await.unwrap());
        assert!(matches!(
            fx.accounts.confirm_totp(id, &current, None).await,
            Err(AccountsError::NoTotpEnrolment)
        ));
    }
}
