//! The `Accounts` service: the pool, clock, hasher and rules every account operation
//! shares, and the few steps several operations take alike.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_store::Tx;
use careid_store::{
    AccountId, Clock, Db, StoreError, audit, install_secrets, refresh_tokens, sessions,
};
use rand::RngCore;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{AccountsConfig, AccountsError, Hasher};

/// Bytes of randomness in a public identifier (an OIDC subject, a session id): 128 bits.
const ID_BYTES: usize = 16;

/// Account lifecycle operations. `careid-server` builds one and shares it as `Arc<_>`.
pub struct Accounts {
    /// The database pool.
    pub db: Db,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// The only way to run argon2.
    pub hasher: Hasher,
    /// The account rules.
    pub config: AccountsConfig,
    /// Install secrets already read: they never change once stored, so every instance
    /// may keep its copy, and a PIN guess costs no write for its key.
    pub(crate) secrets: Mutex<HashMap<String, String>>,
    /// The key TOTP secrets are sealed under, derived from the key-encryption key when
    /// one is configured ([`Accounts::with_totp_kek`]).
    pub(crate) totp_kek: Option<Box<[u8; 32]>>,
    /// careid as a WebAuthn relying party, when its issuer allows passkeys
    /// ([`Accounts::with_passkeys`]).
    pub(crate) relying_party: Option<Box<crate::RelyingParty>>,
}

impl Accounts {
    /// The service over `db`, with a [`Hasher`] built from `config`.
    pub fn new(db: Db, clock: Arc<dyn Clock>, config: AccountsConfig) -> Self {
        Self {
            db,
            clock,
            hasher: Hasher::from_config(&config),
            config,
            secrets: Mutex::default(),
            totp_kek: None,
            relying_party: None,
        }
    }

    /// Seals new TOTP secrets under `key`, a key derived from the key-encryption key
    /// (never the KEK itself), so that the database alone cannot open them. `None`
    /// keeps the install secret.
    pub fn with_totp_kek(mut self, key: Option<[u8; 32]>) -> Self {
        self.totp_kek = key.map(Box::new);
        self
    }

    /// The installation's secret named `name` (256 random bits, base64url), generated
    /// on first use and kept in the database, so every instance gets the same one.
    pub async fn install_secret(&self, name: &str) -> Result<String, AccountsError> {
        if let Some(known) = self.known_secret(name) {
            return Ok(known);
        }
        let fresh = careid_policy::one_time::new_token();
        let now = self.clock.now();
        let stored = install_secrets::find_or_insert(&self.db, name, &fresh, now).await?;
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.insert(name.to_owned(), stored.clone());
        }
        Ok(stored)
    }

    fn known_secret(&self, name: &str) -> Option<String> {
        self.secrets.lock().ok()?.get(name).cloned()
    }

    /// Starts a transaction; dropping it without [`commit`] rolls it back.
    pub(crate) async fn begin(&self) -> Result<Tx, AccountsError> {
        Ok(self.db.begin().await.map_err(StoreError::from)?)
    }
}

/// Commits a transaction begun with [`Accounts::begin`].
pub(crate) async fn commit(txn: Tx) -> Result<(), AccountsError> {
    Ok(txn.commit().await.map_err(StoreError::from)?)
}

/// Ends every careid session of the account (its clients are told by back-channel
/// logout) and revokes its refresh tokens at every client: the account may no longer
/// act anywhere (disable, expiry).
pub(crate) async fn revoke_everything(
    txn: &Tx,
    account_id: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let which = sessions::Ending::Account {
        account_id,
        keep: None,
    };
    sessions::end_sessions(txn, which, now).await?;
    refresh_tokens::revoke_for_account(txn, account_id, None, now).await?;
    Ok(())
}

/// An audit event of `kind` about one account, with nothing else filled in.
pub(crate) fn event(kind: &'static str, account_id: AccountId) -> audit::NewEvent {
    audit::NewEvent {
        kind,
        account_id: Some(account_id),
        ..Default::default()
    }
}

/// An instant as RFC 3339 text, for audit details.
pub(crate) fn rfc3339(at: OffsetDateTime) -> Option<String> {
    at.format(&Rfc3339).ok()
}

/// A new random public identifier: 128 bits, base64url without padding.
pub(crate) fn random_id() -> String {
    let mut bytes = [0_u8; ID_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_install_secret_is_made_once_and_then_kept() {
        let fx = crate::testing::Fixture::new().await;
        let first = fx.accounts.install_secret("csrf").await.unwrap();
        assert_eq!(first.len(), 43);
        assert_eq!(fx.accounts.install_secret("csrf").await.unwrap(), first);
        assert_ne!(fx.accounts.install_secret("other").await.unwrap(), first);
    }

    #[tokio::test]
    async fn a_known_install_secret_costs_no_statement() {
        let fx = crate::testing::Fixture::new().await;
        let first = fx.accounts.install_secret("pin_key").await.unwrap();
        let before = fx.accounts.db.tally();
        assert_eq!(fx.accounts.install_secret("pin_key").await.unwrap(), first);
        assert_eq!((fx.accounts.db.tally() - before).statements, 0);
        // Another instance over the same database reads the same secret.
        let other = Accounts::new(
            fx.accounts.db.clone(),
            fx.clock.clone(),
            fx.accounts.config.clone(),
        );
        assert_eq!(other.install_secret("pin_key").await.unwrap(), first);
    }

    #[test]
    fn a_random_id_is_128_bits_of_base64url() {
        let id = random_id();
        assert_eq!(URL_SAFE_NO_PAD.decode(&id).unwrap().len(), 16);
        assert_ne!(id, random_id());
    }
}
