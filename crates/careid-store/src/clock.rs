//! The one source of "now". Services ask their `Clock`; tests set a `ManualClock`.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Where careid reads the current time.
///
/// Implementations return UTC truncated to whole seconds: JWT times are whole seconds,
/// and SQLite compares stored RFC 3339 text, which orders correctly only at one width.
pub trait Clock: Send + Sync {
    /// The current instant, UTC, whole seconds.
    fn now(&self) -> OffsetDateTime;
}

/// Normalises an instant to what every `Clock` returns.
pub fn normalise(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one place that reads the wall clock.
    fn now(&self) -> OffsetDateTime {
        normalise(OffsetDateTime::now_utc())
    }
}

/// A clock that moves only when told to, for tests of expiry rules.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(normalise(start)),
        }
    }

    /// A clock standing at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = normalise(*now + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::starting_now();
        let before = clock.now();
        assert_eq!(clock.now(), before);
        clock.advance(Duration::days(91));
        assert_eq!(clock.now() - before, Duration::days(91));
    }

    #[test]
    fn clock_times_are_whole_utc_seconds() {
        let now = SystemClock.now();
        assert_eq!(now.nanosecond(), 0);
        assert_eq!(now.offset(), UtcOffset::UTC);
    }
}
