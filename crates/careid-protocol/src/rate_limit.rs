//! Rate limits wherever a stranger can knock (issue 12, item 7): sign-in, "forgot
//! password", emailed sign-in links, current-password checks, client registration and failed client
//! authentication. Each bucket has a quota per client address and one per account (or
//! per client), kept by `governor` (GCRA, one state per key) on careid's own clock, so a
//! test's clock moves them too.
//!
//! Over a quota the caller answers 429 with `Retry-After`; the first refusal of each
//! stretch is audited as `rate_limited` with the bucket and address. The limits are per
//! instance: behind a load balancer each instance allows its own quota, which still
//! bounds a flood to a known multiple. Lockout and the reset limits that must hold across
//! instances are counted in the database by `careid-accounts`.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use careid_store::{Clock, Db, audit};
use governor::{
    Quota, RateLimiter, middleware::NoOpMiddleware, nanos::Nanos, state::keyed::HashMapStateStore,
};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::ClientAddress;

/// `[rate_limit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Off turns every limit below off (for a benchmark, never in production).
    pub enabled: bool,
    /// `POST /sign-in`, every attempt.
    pub sign_in: AccountLimits,
    /// `POST /forgot-password`, every request.
    pub forgot_password: AccountLimits,
    /// `POST /account/password`: checks of the current password.
    pub password_check: AccountLimits,
    /// `POST /magic-link`: requests for an emailed sign-in link.
    pub magic_link: AccountLimits,
    /// `POST /register` (RFC 7591), per address.
    pub registration: AddressLimit,
    /// Failed client authentication at `/token`, `/introspect` and `/revoke`.
    pub client_auth_failures: ClientLimits,
    /// The most authorization requests one client address may have waiting (stored
    /// until the person signs in, or until they expire); 0 is no cap.
    pub pending_authorizations_per_address: u32,
}

/// A quota: `requests` at once, refilled evenly over `per_seconds`. Written as one value,
/// `"10/minute"`, `"5/hour"`, `"3/30s"`, `"20/10m"` (or `"off"`), so an environment
/// variable sets it whole.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct Limit {
    /// How many requests may come at once (the burst), and per period; 0 is no limit.
    pub requests: u32,
    /// The period in which that many come back.
    pub per_seconds: u32,
}

impl TryFrom<String> for Limit {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a quota: write requests/period, e.g. \"10/minute\", \"5/hour\", \"3/30s\", or \"off\""
            )
        };
        let text = text.trim();
        if text == "off" {
            return Ok(Self::new(0, 1));
        }
        let (requests, period) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = requests.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let per_seconds = match period {
            "second" => 1,
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            _ => {
                let split = period.len().saturating_sub(1);
                let (count, unit) = period.split_at_checked(split).ok_or_else(bad)?;
                let count: u32 = count.parse().map_err(|_| bad())?;
                let unit = match unit {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    _ => return Err(bad()),
                };
                count.checked_mul(unit).ok_or_else(bad)?
            }
        };
        if per_seconds == 0 {
            return Err(bad());
        }
        Ok(Self::new(requests, per_seconds))
    }
}

impl Limit {
    /// `requests` per `per_seconds`.
    pub const fn new(requests: u32, per_seconds: u32) -> Self {
        Self {
            requests,
            per_seconds,
        }
    }

    fn quota(self) -> Option<Quota> {
        let requests = NonZeroU32::new(self.requests)?;
        let period = Duration::from_secs(self.per_seconds.into()) / requests.get();
        Some(Quota::with_period(period)?.allow_burst(requests))
    }
}

/// A bucket limited per client address and per account.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountLimits {
    /// Per client address, whatever the account.
    pub per_address: Limit,
    /// Per account (the email typed, or the signed-in account), whatever the address.
    pub per_account: Limit,
}

/// A bucket limited per client address only.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddressLimit {
    /// Per client address.
    pub per_address: Limit,
}

/// A bucket limited per client address and per client id.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientLimits {
    /// Per client address, whatever the client id.
    pub per_address: Limit,
    /// Per claimed client id, whatever the address.
    pub per_client: Limit,
}

impl Default for AccountLimits {
    fn default() -> Self {
        // A practice behind one NAT signs its staff in from one address at the start of
        // the day; one person needs few tries.
        Self {
            per_address: Limit::new(30, 60),
            per_account: Limit::new(10, 60),
        }
    }
}

impl Default for AddressLimit {
    fn default() -> Self {
        Self {
            per_address: Limit::new(20, 3600),
        }
    }
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            per_address: Limit::new(20, 60),
            per_client: Limit::new(10, 60),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sign_in: AccountLimits::default(),
            // A reset mail per account a few times an hour is plenty; more is a mail bomb.
            forgot_password: AccountLimits {
                per_address: Limit::new(10, 3600),
                per_account: Limit::new(5, 3600),
            },
            password_check: AccountLimits {
                per_address: Limit::new(30, 600),
                per_account: Limit::new(10, 600),
            },
            // Like the reset mails: a few links an hour is plenty; more is a mail bomb.
            magic_link: AccountLimits {
                per_address: Limit::new(10, 3600),
                per_account: Limit::new(5, 3600),
            },
            registration: AddressLimit::default(),
            client_auth_failures: ClientLimits::default(),
            pending_authorizations_per_address: 100,
        }
    }
}

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `POST /sign-in`.
    SignIn,
    /// `POST /forgot-password`.
    ForgotPassword,
    /// Current-password checks at `/account/password`.
    PasswordCheck,
    /// `POST /magic-link`.
    MagicLink,
    /// `POST /register`.
    Registration,
    /// Failed client authentication at the token, introspection and revocation endpoints.
    ClientAuthFailure,
    /// Authorization requests waiting for a sign-in, per address (a cap, not a rate).
    PendingAuthorization,
}

impl Bucket {
    /// The bucket's name in config and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::ForgotPassword => "forgot_password",
            Self::PasswordCheck => "password_check",
            Self::MagicLink => "magic_link",
            Self::Registration => "registration",
            Self::ClientAuthFailure => "client_auth_failures",
            Self::PendingAuthorization => "pending_authorizations_per_address",
        }
    }
}

/// Whose quota: the address's or the account's (client's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Address,
    Account,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Account => "account",
        }
    }
}

/// A refusal: which bucket, and how long until the next request is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit {} exceeded", bucket.as_str())]
pub struct RateLimited {
    /// The bucket that refused.
    pub bucket: Bucket,
    /// Until the next request of this kind may come.
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds for `Retry-After` (RFC 9110 §10.2.3), at least one.
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// governor's view of careid's [`Clock`]: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct CareClock(Arc<dyn Clock>);

impl governor::clock::Clock for CareClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let since_epoch = (self.0.now() - OffsetDateTime::UNIX_EPOCH).whole_nanoseconds();
        Nanos::from(u64::try_from(since_epoch).unwrap_or(0))
    }
}

type KeyedLimiter =
    RateLimiter<String, HashMapStateStore<String>, CareClock, NoOpMiddleware<Nanos>>;

/// Every limiter of this instance.
pub struct RateLimits {
    is_enabled: bool,
    max_pending: u32,
    clock: CareClock,
    limiters: HashMap<(Bucket, Scope), KeyedLimiter>,
    /// Keys over a quota and when they may come back: what lets a bucket charged only
    /// on failure refuse before it checks, and audits only a stretch's first refusal.
    refused_until: Mutex<HashMap<(Bucket, Scope, String), Nanos>>,
}

impl RateLimits {
    /// The limiters `config` describes, running on `clock`.
    pub fn new(config: &RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        let clock = CareClock(clock);
        let quotas = [
            (Bucket::SignIn, Scope::Address, config.sign_in.per_address),
            (Bucket::SignIn, Scope::Account, config.sign_in.per_account),
            (
                Bucket::ForgotPassword,
                Scope::Address,
                config.forgot_password.per_address,
            ),
            (
                Bucket::ForgotPassword,
                Scope::Account,
                config.forgot_password.per_account,
            ),
            (
                Bucket::PasswordCheck,
                Scope::Address,
                config.password_check.per_address,
            ),
            (
                Bucket::PasswordCheck,
                Scope::Account,
                config.password_check.per_account,
            ),
            (
                Bucket::MagicLink,
                Scope::Address,
                config.magic_link.per_address,
            ),
            (
                Bucket::MagicLink,
                Scope::Account,
                config.magic_link.per_account,
            ),
            (
                Bucket::Registration,
                Scope::Address,
                config.registration.per_address,
            ),
            (
                Bucket::ClientAuthFailure,
                Scope::Address,
                config.client_auth_failures.per_address,
            ),
            (
                Bucket::ClientAuthFailure,
                Scope::Account,
                config.client_auth_failures.per_client,
            ),
        ];
        let limiters = quotas
            .into_iter()
            .filter_map(|(bucket, scope, limit)| {
                let quota = limit.quota()?;
                Some((
                    (bucket, scope),
                    RateLimiter::hashmap_with_clock(quota, clock.clone()),
                ))
            })
            .collect();
        Self {
            is_enabled: config.enabled,
            max_pending: config.pending_authorizations_per_address,
            clock,
            limiters,
            refused_until: Mutex::new(HashMap::new()),
        }
    }

    /// Charges one request to `bucket` for `address` and, if given, `account`. Refused
    /// if either is over its quota.
    pub async fn charge(
        &self,
        db: &Db,
        bucket: Bucket,
        address: &ClientAddress,
        account: Option<&str>,
    ) -> Result<(), RateLimited> {
        for (scope, key) in self.keys(address, account) {
            self.charge_one(db, bucket, address, scope, key).await?;
        }
        Ok(())
    }

    /// Refuses without charging anything if `address` or `account` went over `bucket`'s
    /// quota and its wait is not over: for buckets charged only on failure, so a
    /// guesser past the quota learns nothing from a right guess.
    pub fn refuse_if_over(
        &self,
        bucket: Bucket,
        address: &ClientAddress,
        account: Option<&str>,
    ) -> Result<(), RateLimited> {
        let now = governor::clock::Clock::now(&self.clock);
        let Ok(refused) = self.refused_until.lock() else {
            return Ok(());
        };
        for (scope, key) in self.keys(address, account) {
            if let Some(until) = refused.get(&(bucket, scope, key)).filter(|u| **u > now) {
                return Err(RateLimited {
                    bucket,
                    retry_after: until.saturating_sub(now).into(),
                });
            }
        }
        Ok(())
    }

    /// The cap on authorization requests waiting per address, if there is one.
    pub fn max_pending(&self) -> Option<u32> {
        (self.is_enabled && self.max_pending > 0).then_some(self.max_pending)
    }

    /// Records a refusal decided elsewhere (a cap the database counts): audited once
    /// per stretch, like the limiters' own.
    pub async fn refuse(
        &self,
        db: &Db,
        bucket: Bucket,
        address: &ClientAddress,
        retry_after: Duration,
    ) -> RateLimited {
        let key = address.for_audit().unwrap_or_default();
        self.refused(db, bucket, address, Scope::Address, key, retry_after)
            .await
    }

    /// Forgets keys whose state is as good as new, so idle limiter memory stays bounded.
    pub fn forget_idle(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = governor::clock::Clock::now(&self.clock);
        if let Ok(mut refused) = self.refused_until.lock() {
            refused.retain(|_, until| *until > now);
            refused.shrink_to_fit();
        }
    }

    /// How many keys the limiters hold, for tests of [`Self::forget_idle`].
    pub fn tracked_keys(&self) -> usize {
        self.limiters.values().map(KeyedLimiter::len).sum()
    }

    fn keys(&self, address: &ClientAddress, account: Option<&str>) -> Vec<(Scope, String)> {
        if !self.is_enabled {
            return Vec::new();
        }
        let address = address.0.map(|ip| (Scope::Address, ip.to_string()));
        // Emails arrive as typed: one person, one key.
        let account = account.map(|a| (Scope::Account, a.trim().to_lowercase()));
        address.into_iter().chain(account).collect()
    }

    async fn charge_one(
        &self,
        db: &Db,
        bucket: Bucket,
        address: &ClientAddress,
        scope: Scope,
        key: String,
    ) -> Result<(), RateLimited> {
        let Some(limiter) = self.limiters.get(&(bucket, scope)) else {
            return Ok(());
        };
        let Err(not_until) = limiter.check_key(&key) else {
            return Ok(());
        };
        let now = governor::clock::Clock::now(&self.clock);
        let retry_after = not_until.wait_time_from(now);
        Err(self
            .refused(db, bucket, address, scope, key, retry_after)
            .await)
    }

    /// Notes that `key` is refused for `retry_after`, and audits the first refusal of a
    /// stretch (`rate_limited`, with the bucket and address): a flood past a quota
    /// writes one row per wait, not one per request.
    async fn refused(
        &self,
        db: &Db,
        bucket: Bucket,
        address: &ClientAddress,
        scope: Scope,
        key: String,
        retry_after: Duration,
    ) -> RateLimited {
        let now = governor::clock::Clock::now(&self.clock);
        let refused = RateLimited {
            bucket,
            retry_after,
        };
        let is_new_stretch = match self.refused_until.lock() {
            Ok(mut map) => map
                .insert((bucket, scope, key), now + Nanos::from(retry_after))
                .is_none_or(|until| until <= now),
            Err(_) => true,
        };
        if is_new_stretch {
            let event = audit::NewEvent {
                kind: "rate_limited",
                ip: address.for_audit(),
                detail: json!({
                    "bucket": bucket.as_str(),
                    "scope": scope.as_str(),
                    "retry_after_seconds": refused.retry_after_seconds(),
                }),
                ..Default::default()
            };
            // The refusal stands whether or not it could be recorded.
            if let Err(err) = audit::insert_event(db, event, self.clock.0.now()).await {
                tracing::error!(%err, "rate_limited not audited");
            }
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    use careid_store::ManualClock;

    use super::*;

    fn limits(clock: &Arc<ManualClock>, per_account: Limit) -> RateLimits {
        let config = RateLimitConfig {
            sign_in: AccountLimits {
                per_address: Limit::new(0, 60),
                per_account,
            },
            ..RateLimitConfig::default()
        };
        RateLimits::new(&config, clock.clone())
    }

    fn charge(limits: &RateLimits, account: &str) -> Result<(), RateLimited> {
        let limiter = &limits.limiters[&(Bucket::SignIn, Scope::Account)];
        limiter
            .check_key(&account.to_owned())
            .map_err(|_| RateLimited {
                bucket: Bucket::SignIn,
                retry_after: Duration::ZERO,
            })
    }

    #[test]
    fn the_quota_is_a_burst_that_refills_evenly() {
        let clock = Arc::new(ManualClock::starting_now());
        let limits = limits(&clock, Limit::new(3, 60));
        for _ in 0..3 {
            assert!(charge(&limits, "a@example.org").is_ok());
        }
        assert!(charge(&limits, "a@example.org").is_err());
        // Another key has its own quota.
        assert!(charge(&limits, "b@example.org").is_ok());
        clock.advance(time::Duration::seconds(19));
        assert!(charge(&limits, "a@example.org").is_err());
        clock.advance(time::Duration::seconds(1));
        assert!(charge(&limits, "a@example.org").is_ok());
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let clock = Arc::new(ManualClock::starting_now());
        let limits = limits(&clock, Limit::new(3, 60));
        charge(&limits, "a@example.org").unwrap();
        assert_eq!(limits.tracked_keys(), 1);
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 1, "its cell has not come back yet");
        // A full period later the key's state is as good as new.
        clock.advance(time::Duration::seconds(60));
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }

    #[test]
    fn quotas_are_written_as_requests_per_period() {
        let parse = |text: &str| Limit::try_from(text.to_owned());
        assert_eq!(parse("10/minute"), Ok(Limit::new(10, 60)));
        assert_eq!(parse(" 5 / hour "), Ok(Limit::new(5, 3600)));
        assert_eq!(parse("3/30s"), Ok(Limit::new(3, 30)));
        assert_eq!(parse("20/10m"), Ok(Limit::new(20, 600)));
        assert_eq!(parse("2/1h"), Ok(Limit::new(2, 3600)));
        assert_eq!(parse("off").map(Limit::quota), Ok(None));
        for bad in [
            "10",
            "ten/minute",
            "10/fortnight",
            "10/0s",
            "10/",
            "/minute",
            "10/99999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_zero_quota_is_no_limit() {
        assert_eq!(Limit::new(0, 60).quota(), None);
        assert!(Limit::new(1, 0).quota().is_none());
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let refused = RateLimited {
            bucket: Bucket::SignIn,
            retry_after: Duration::from_millis(5200),
        };
        assert_eq!(refused.retry_after_seconds(), 6);
        let soon = RateLimited {
            retry_after: Duration::ZERO,
            ..refused
        };
        assert_eq!(soon.retry_after_seconds(), 1);
    }
}
