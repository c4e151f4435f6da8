//! Lockout after repeated failed sign-ins, with a lock that doubles each time it recurs.
//!
//! The caller stores `failed_count`, `lockouts` and `locked_until` on the account. A
//! successful sign-in resets `failed_count` and `lockouts` to 0; that is the caller's job,
//! since this module only sees failures.

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

/// No lock lasts longer than a day, however often it recurs, so a targeted person is never
/// shut out for good by someone guessing at their account.
const MAX_LOCK: Duration = Duration::hours(24);

/// When to lock an account and for how long. Fields left out of configuration take their
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutRules {
    /// Consecutive failures that lock the account; the failure that reaches this number
    /// locks. Default 5.
    pub max_failures: u32,
    /// Length of the first lock in minutes; each further consecutive lock doubles it, up to
    /// 24 hours. Default 15.
    pub lock_minutes: u32,
    /// Failed sign-ins from one client address, over all accounts, within
    /// `ip_window_minutes`, after which that address must wait (0: no limit). Default 50:
    /// a practice behind one address has many people, an attacker trying many accounts
    /// has one address.
    pub ip_max_failures: u32,
    /// The window for `ip_max_failures`, in minutes. Default 15.
    pub ip_window_minutes: u32,
}

impl Default for LockoutRules {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_minutes: 15,
            ip_max_failures: 50,
            ip_window_minutes: 15,
        }
    }
}

impl LockoutRules {
    /// Whether an address with `recent_failures` failed sign-ins in the last
    /// `ip_window_minutes` must wait before trying again.
    pub fn is_ip_throttled(&self, recent_failures: u64) -> bool {
        self.ip_max_failures > 0 && recent_failures >= u64::from(self.ip_max_failures)
    }

    /// The window over which failures from one address are counted.
    pub fn ip_window(&self) -> Duration {
        Duration::minutes(i64::from(self.ip_window_minutes))
    }
}

/// The account's counters after a failed sign-in, to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Consecutive failures since the last lock or success; 0 when this failure locked.
    pub failed_count: u32,
    /// Set when this failure locked the account: the end of the lock.
    pub locked_until: Option<OffsetDateTime>,
    /// Consecutive locks since the last success.
    pub lockouts: u32,
}

/// Applies one failed sign-in. The failure that brings the count to `max_failures` locks
/// the account for [`lock_duration`] of the new lockout number, resets `failed_count` to 0
/// and counts one more lockout. Any other failure only counts itself.
pub fn after_failure(
    rules: &LockoutRules,
    failed_count_before: u32,
    lockouts_before: u32,
    now: OffsetDateTime,
) -> FailureOutcome {
    let failed_count = failed_count_before.saturating_add(1);
    if failed_count < rules.max_failures {
        return FailureOutcome {
            failed_count,
            locked_until: None,
            lockouts: lockouts_before,
        };
    }
    let lockouts = lockouts_before.saturating_add(1);
    FailureOutcome {
        failed_count: 0,
        locked_until: Some(now + lock_duration(rules, lockouts)),
        lockouts,
    }
}

/// How long the `lockout`-th consecutive lock lasts (counting from 1):
/// `lock_minutes * 2^(lockout - 1)`, at most 24 hours.
pub fn lock_duration(rules: &LockoutRules, lockout: u32) -> Duration {
    let doublings = lockout.saturating_sub(1);
    let factor = 1_u64.checked_shl(doublings).unwrap_or(u64::MAX);
    let minutes = u64::from(rules.lock_minutes).saturating_mul(factor);
    let capped = i64::try_from(minutes)
        .unwrap_or(i64::MAX)
        .min(MAX_LOCK.whole_minutes());
    Duration::minutes(capped)
}

/// Whether an account with lock end `locked_until` is locked at `now`: locked while `now`
/// is before the end.
pub fn is_locked(locked_until: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    locked_until.is_some_and(|until| now < until)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-04-14 10:00 UTC);

    fn rules() -> LockoutRules {
        LockoutRules::default()
    }

    #[test]
    fn the_fourth_failure_does_not_lock() {
        let outcome = after_failure(&rules(), 3, 0, NOW);
        assert_eq!(
            outcome,
            FailureOutcome {
                failed_count: 4,
                locked_until: None,
                lockouts: 0
            }
        );
    }

    #[test]
    fn the_fifth_failure_locks_for_15_minutes_and_resets_the_count() {
        let outcome = after_failure(&rules(), 4, 0, NOW);
        assert_eq!(
            outcome,
            FailureOutcome {
                failed_count: 0,
                locked_until: Some(NOW + Duration::minutes(15)),
                lockouts: 1
            }
        );
    }

    #[test]
    fn the_second_lockout_lasts_twice_as_long() {
        let outcome = after_failure(&rules(), 4, 1, NOW);
        assert_eq!(outcome.locked_until, Some(NOW + Duration::minutes(30)));
        assert_eq!(outcome.lockouts, 2);
    }

    #[test]
    fn the_third_lockout_lasts_four_times_as_long() {
        assert_eq!(lock_duration(&rules(), 3), Duration::minutes(60));
    }

    #[test]
    fn a_lock_just_under_a_day_is_not_capped() {
        // 15 * 2^6 = 960 minutes, 16 hours.
        assert_eq!(lock_duration(&rules(), 7), Duration::hours(16));
    }

    #[test]
    fn a_lock_that_would_pass_a_day_is_capped_at_24_hours() {
        // 15 * 2^7 = 1920 minutes, 32 hours.
        assert_eq!(lock_duration(&rules(), 8), Duration::hours(24));
        assert_eq!(lock_duration(&rules(), u32::MAX), Duration::hours(24));
        let outcome = after_failure(&rules(), 4, u32::MAX, NOW);
        assert_eq!(outcome.locked_until, Some(NOW + Duration::hours(24)));
    }

    #[test]
    fn an_account_is_locked_until_the_last_moment_before_the_end() {
        let until = NOW + Duration::minutes(15);
        assert!(is_locked(Some(until), until - Duration::SECOND));
    }

    #[test]
    fn an_account_is_unlocked_at_the_end_of_the_lock() {
        let until = NOW + Duration::minutes(15);
        assert!(!is_locked(Some(until), until));
        assert!(!is_locked(None, NOW));
    }

    #[test]
    fn lockout_rules_left_out_of_configuration_take_their_defaults() {
        let rules: LockoutRules = toml::from_str("max_failures = 3").unwrap();
        assert_eq!(
            rules,
            LockoutRules {
                max_failures: 3,
                ..LockoutRules::default()
            }
        );
    }

    #[test]
    fn an_address_is_throttled_at_its_limit_and_not_one_failure_before() {
        let rules = LockoutRules {
            ip_max_failures: 3,
            ..LockoutRules::default()
        };
        assert!(!rules.is_ip_throttled(2));
        assert!(rules.is_ip_throttled(3));
        let off = LockoutRules {
            ip_max_failures: 0,
            ..LockoutRules::default()
        };
        assert!(!off.is_ip_throttled(1_000_000));
    }
}
