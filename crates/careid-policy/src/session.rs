//! Session lifetime: a careid session ends after an idle period or at a maximum age,
//! whichever comes first. Cookies and storage are `careid-ui`'s and `careid-store`'s.

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

/// How long a careid session may last. Fields left out of configuration take their
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionRules {
    /// Minutes without a request after which the session ends. Default 30.
    pub idle_minutes: u32,
    /// Hours after sign-in after which the session ends however active. Default 12.
    pub max_hours: u32,
}

impl Default for SessionRules {
    fn default() -> Self {
        Self {
            idle_minutes: 30,
            max_hours: 12,
        }
    }
}

/// Whether a session created at `created_at` and last used at `last_seen_at` is still live
/// at `now`. It ends once idle strictly more than `idle_minutes`, or older strictly more
/// than `max_hours`; at exactly either limit it is still live.
pub fn is_session_live(
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    now: OffsetDateTime,
    rules: &SessionRules,
) -> bool {
    let idle = now - last_seen_at;
    let age = now - created_at;
    idle <= Duration::minutes(i64::from(rules.idle_minutes))
        && age <= Duration::hours(i64::from(rules.max_hours))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const START: OffsetDateTime = datetime!(2026-03-02 08:00 UTC);

    fn live(last_seen_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        is_session_live(START, last_seen_at, now, &SessionRules::default())
    }

    #[test]
    fn a_session_idle_for_30_minutes_is_live() {
        assert!(live(START, START + Duration::minutes(30)));
    }

    #[test]
    fn a_session_idle_for_31_minutes_has_ended() {
        assert!(!live(START, START + Duration::minutes(31)));
    }

    #[test]
    fn a_session_idle_one_second_past_30_minutes_has_ended() {
        assert!(!live(
            START,
            START + Duration::minutes(30) + Duration::SECOND
        ));
    }

    #[test]
    fn an_active_session_aged_exactly_12_hours_is_live() {
        let now = START + Duration::hours(12);
        assert!(live(now - Duration::minutes(1), now));
    }

    #[test]
    fn an_active_session_aged_12_hours_and_one_second_has_ended() {
        let now = START + Duration::hours(12) + Duration::SECOND;
        assert!(!live(now - Duration::minutes(1), now));
    }

    #[test]
    fn session_rules_left_out_of_configuration_take_their_defaults() {
        let rules: SessionRules = toml::from_str("idle_minutes = 15").unwrap();
        assert_eq!(
            rules,
            SessionRules {
                idle_minutes: 15,
                max_hours: 12
            }
        );
    }
}
