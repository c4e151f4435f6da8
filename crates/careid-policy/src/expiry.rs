//! Inactivity expiry: an account nobody has signed in to for too long expires, to protect
//! the data in it. Sweeping accounts and reactivating them is `careid-accounts`' job.

use time::{Duration, OffsetDateTime};

/// Whether an account last active at `activity_at` has expired by `now`: true only when
/// strictly more than `limit_days` days have passed, so an account idle exactly the limit
/// is still active. An `activity_at` in the future (clock skew) never expires.
pub fn is_inactive_expired(
    activity_at: OffsetDateTime,
    now: OffsetDateTime,
    limit_days: u32,
) -> bool {
    now - activity_at > Duration::days(i64::from(limit_days))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const START: OffsetDateTime = datetime!(2026-01-05 09:30 UTC);
    const LIMIT: u32 = 90;

    #[test]
    fn an_account_idle_for_89_days_is_still_active() {
        assert!(!is_inactive_expired(
            START,
            START + Duration::days(89),
            LIMIT
        ));
    }

    #[test]
    fn an_account_idle_for_exactly_90_days_is_still_active() {
        assert!(!is_inactive_expired(
            START,
            START + Duration::days(90),
            LIMIT
        ));
    }

    #[test]
    fn an_account_idle_one_second_past_90_days_is_expired() {
        let now = START + Duration::days(90) + Duration::SECOND;
        assert!(is_inactive_expired(START, now, LIMIT));
    }

    #[test]
    fn an_account_idle_for_91_days_is_expired() {
        assert!(is_inactive_expired(
            START,
            START + Duration::days(91),
            LIMIT
        ));
    }

    #[test]
    fn activity_in_the_future_does_not_expire() {
        assert!(!is_inactive_expired(
            START + Duration::days(1),
            START,
            LIMIT
        ));
    }
}
