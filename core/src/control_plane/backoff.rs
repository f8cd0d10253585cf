//! Exponential backoff with full jitter: the n-th retry waits a uniformly
//! random time in `[0, min(max, base * 2^n)]`, which spreads retries of many
//! clients instead of having them hit a recovering server in lockstep.

use std::time::Duration;

/// The upper bound of the wait before retry `attempt` (0 for the first
/// retry): `min(max, base * 2^attempt)`, without overflow.
pub fn ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX).min(max)
}

/// How long to wait before retry `attempt` (0 for the first retry): uniform
/// in `[0, ceiling(attempt, base, max)]`.
pub fn delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let cap = ceiling(attempt, base, max);
    let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=cap_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceiling_doubles_up_to_max() {
        let base = 500 * MS;
        let max = 10_000 * MS;
        assert_eq!(ceiling(0, base, max), 500 * MS);
        assert_eq!(ceiling(1, base, max), 1000 * MS);
        assert_eq!(ceiling(2, base, max), 2000 * MS);
        assert_eq!(ceiling(4, base, max), 8000 * MS);
        assert_eq!(ceiling(5, base, max), max);
        assert_eq!(ceiling(u32::MAX, base, max), max);
        assert_eq!(ceiling(100, Duration::MAX, Duration::MAX), Duration::MAX);
    }

    #[test]
    fn delay_stays_within_bounds_and_jitters() {
        let base = 100 * MS;
        let max = 1000 * MS;
        for attempt in 0..40 {
            let cap = ceiling(attempt, base, max);
            let samples: Vec<Duration> = (0..200).map(|_| delay(attempt, base, max)).collect();
            assert!(samples.iter().all(|d| *d <= cap && *d <= max));
            let distinct: std::collections::HashSet<_> = samples.iter().collect();
            assert!(distinct.len() > 1, "jitter at attempt {attempt}");
        }
    }

    #[test]
    fn zero_base_or_max_means_no_wait() {
        assert_eq!(delay(3, Duration::ZERO, 1000 * MS), Duration::ZERO);
        assert_eq!(delay(3, 100 * MS, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn huge_durations_do_not_panic() {
        let d = delay(63, Duration::MAX, Duration::MAX);
        assert!(d <= Duration::MAX);
    }
}
