//! The one way careid runs argon2: on blocking threads, at most one hash per slot, and a
//! clear "busy" when no slot frees up in time. The hashing itself is `careid-policy`'s.
//!
//! DESIGN.md, "Performance shape": a flood of sign-ins queues or is refused with 503, it
//! never exhausts memory (each argon2 call holds ~19 MiB) or starves the runtime threads
//! that serve tokens.

use std::{sync::Arc, time::Duration};

use careid_policy::{HashParams, PasswordHash, PlainPassword};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::spawn_blocking,
    time::timeout,
};

use crate::{AccountsConfig, AccountsError};

/// Runs every argon2 call off the async runtime, bounded by a semaphore.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    max_wait: Duration,
    params: HashParams,
}

impl Hasher {
    /// A hasher for new hashes made with `params`, running at most `workers` at once
    /// (0 means one per core) and waiting at most `max_wait` for a slot.
    pub fn new(params: HashParams, workers: usize, max_wait: Duration) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            workers
        };
        Self {
            permits: Arc::new(Semaphore::new(workers.min(Semaphore::MAX_PERMITS))),
            max_wait,
            params,
        }
    }

    /// The hasher the configuration describes.
    pub fn from_config(config: &AccountsConfig) -> Self {
        Self::new(config.hash, config.hash_workers, config.hash_max_wait())
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> &HashParams {
        &self.params
    }

    /// Hashes a new password with the configured parameters.
    pub async fn hash(&self, password: PlainPassword) -> Result<PasswordHash, AccountsError> {
        let permit = self.permit().await?;
        let params = self.params;
        let hash = spawn_blocking(move || {
            let _permit = permit; // Held until the hash is done.
            careid_policy::hash_password(&password, &params)
        })
        .await??;
        Ok(hash)
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(
        &self,
        password: PlainPassword,
        hash: PasswordHash,
    ) -> Result<bool, AccountsError> {
        let permit = self.permit().await?;
        let matched = spawn_blocking(move || {
            let _permit = permit; // Held until the hash is done.
            careid_policy::verify_password(&password, &hash)
        })
        .await?;
        Ok(matched)
    }

    /// Spends the time of a real verification and discards it, for an unknown email or an
    /// account without a password (so timing does not tell which emails exist).
    pub async fn dummy_verify(&self, password: PlainPassword) -> Result<(), AccountsError> {
        let permit = self.permit().await?;
        let params = self.params;
        spawn_blocking(move || {
            let _permit = permit; // Held until the hash is done.
            careid_policy::dummy_verify(&password, &params);
        })
        .await?;
        Ok(())
    }

    /// Whether `password` matches one of `recent`, newest first (the password history).
    /// Up to [`careid_policy::HISTORY_DEPTH`] verifications under one slot.
    pub async fn is_reused(
        &self,
        password: PlainPassword,
        recent: Vec<PasswordHash>,
    ) -> Result<bool, AccountsError> {
        let permit = self.permit().await?;
        let reused = spawn_blocking(move || {
            let _permit = permit; // Held until the hashes are done.
            careid_policy::is_reused(&password, &recent)
        })
        .await?;
        Ok(reused)
    }

    /// Takes every slot, so that the next call is busy.
    #[cfg(test)]
    pub(crate) async fn hold_all_for_test(&self) -> OwnedSemaphorePermit {
        let all = u32::try_from(self.permits.available_permits()).unwrap();
        self.permits.clone().acquire_many_owned(all).await.unwrap()
    }

    /// A hashing slot, or `Busy` when none frees up within `max_wait`.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, AccountsError> {
        match timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AccountsError::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CHEAP;

    fn hasher(workers: usize) -> Hasher {
        Hasher::new(CHEAP, workers, Duration::from_millis(20))
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hasher = hasher(2);
        let hash = hasher
            .hash(PlainPassword::new("Tulip-Harbor-42"))
            .await
            .unwrap();
        assert!(
            hasher
                .verify(PlainPassword::new("Tulip-Harbor-42"), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(PlainPassword::new("Tulip-Harbor-43"), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            hasher
                .is_reused(PlainPassword::new("Tulip-Harbor-42"), vec![hash])
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn zero_workers_means_one_per_core() {
        let hasher = hasher(0);
        assert!(hasher.permits.available_permits() >= 1);
    }

    #[tokio::test]
    async fn every_call_is_busy_while_all_permits_are_held() {
        let hasher = hasher(1);
        let held = hasher.permits.clone().acquire_owned().await.unwrap();
        let password = || PlainPassword::new("Tulip-Harbor-42");
        assert!(matches!(
            hasher.hash(password()).await,
            Err(AccountsError::Busy)
        ));
        assert!(matches!(
            hasher
                .verify(password(), PasswordHash::from_phc(String::new()))
                .await,
            Err(AccountsError::Busy)
        ));
        assert!(matches!(
            hasher.dummy_verify(password()).await,
            Err(AccountsError::Busy)
        ));
        assert!(matches!(
            hasher.is_reused(password(), vec![]).await,
            Err(AccountsError::Busy)
        ));
        drop(held);
        assert!(hasher.dummy_verify(password()).await.is_ok());
    }

    #[tokio::test]
    async fn the_permit_is_returned_when_the_hash_is_done() {
        let hasher = hasher(1);
        hasher
            .hash(PlainPassword::new("Tulip-Harbor-42"))
            .await
            .unwrap();
        assert_eq!(hasher.permits.available_permits(), 1);
    }
}
