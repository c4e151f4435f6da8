//! The `Accounts` service: the pool, clock, hasher and rules every account operation
//! shares, and the few steps several operations take alike.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_store::{Clock, Db, StoreError, audit, install_secrets, refresh_tokens, sessions};
use rand::RngCore;
use sea_orm::DatabaseTransaction;
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
}

impl Accounts {
    /// The service over `db`, with a [`Hasher`] built from `config`.
    pub fn new(db: Db, clock: Arc<dyn Clock>, config: AccountsConfig) -> Self {
        Self {
            db,
            clock,
            hasher: Hasher::from_config(&config),
            config,
        }
    }

    /// The installation's secret named `name` (256 random bits, base64url), generated
    /// on first use and kept in the database, so every instance gets the same one.
    pub async fn install_secret(&self, name: &str) -> Result<String, AccountsError> {
        let fresh = careid_policy::one_time::new_token();
        let now = self.clock.now();
        Ok(install_secrets::find_or_insert(&self.db, name, &fresh, now).await?)
    }

    /// Starts a transaction; dropping it without [`commit`] rolls it back.
    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction, AccountsError> {
        Ok(self.db.begin().await.map_err(StoreError::from)?)
    }
}

/// Commits a transaction begun with [`Accounts::begin`].
pub(crate) async fn commit(txn: DatabaseTransaction) -> Result<(), AccountsError> {
    Ok(txn.commit().await.map_err(StoreError::from)?)
}

/// Ends every careid session of the account (its clients are told by back-channel
/// logout) and revokes its refresh tokens at every client: the account may no longer
/// act anywhere (disable, expiry).
pub(crate) async fn revoke_everything(
    txn: &DatabaseTransaction,
    account_id: i64,
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
pub(crate) fn event(kind: &'static str, account_id: i64) -> audit::NewEvent {
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

    #[test]
    fn a_random_id_is_128_bits_of_base64url() {
        let id = random_id();
        assert_eq!(URL_SAFE_NO_PAD.decode(&id).unwrap().len(), 16);
        assert_ne!(id, random_id());
    }
}
