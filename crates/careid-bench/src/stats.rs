//! Latency percentiles over the recorded samples: nearest-rank on a sorted vector. A
//! run records at most a few million samples, so sorting them is cheaper than being
//! approximately right.

use serde::Serialize;

/// Latency figures of one scenario, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Latency {
    /// The figures for `micros` (one sample per operation, in microseconds); `None` when
    /// nothing was recorded.
    pub fn of(mut micros: Vec<u32>) -> Option<Self> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_unstable();
        let sum: u64 = micros.iter().map(|&m| u64::from(m)).sum();
        let ms = |us: f64| us.round() / 1000.0;
        Some(Self {
            p50_ms: ms(f64::from(percentile(&micros, 50.0))),
            p95_ms: ms(f64::from(percentile(&micros, 95.0))),
            p99_ms: ms(f64::from(percentile(&micros, 99.0))),
            max_ms: ms(f64::from(micros[micros.len() - 1])),
            mean_ms: ms(sum as f64 / micros.len() as f64),
        })
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of an ascending, non-empty slice: the
/// smallest value with at least p % of the samples at or below it.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), 50);
        assert_eq!(percentile(&sorted, 95.0), 95);
        assert_eq!(percentile(&sorted, 99.0), 99);
        assert_eq!(percentile(&sorted, 100.0), 100);
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 95.0), 10);
        assert_eq!(percentile(&ten, 50.0), 5);
        assert_eq!(percentile(&[7], 99.0), 7);
    }

    #[test]
    fn latency_sorts_and_converts_microseconds_to_milliseconds() {
        let latency = Latency::of(vec![3000, 1000, 2000, 4000]).unwrap();
        assert_eq!(latency.p50_ms, 2.0);
        assert_eq!(latency.p95_ms, 4.0);
        assert_eq!(latency.p99_ms, 4.0);
        assert_eq!(latency.max_ms, 4.0);
        assert_eq!(latency.mean_ms, 2.5);
        assert_eq!(Latency::of(vec![1234]).unwrap().p50_ms, 1.234);
    }

    #[test]
    fn no_samples_give_no_latency() {
        assert_eq!(Latency::of(Vec::new()), None);
    }
}
