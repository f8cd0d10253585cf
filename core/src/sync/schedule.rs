//! When a background loop (policy sync, agent lookups, status polls) tries
//! again. The circuit breaker is not theirs: it protects the calls
//! (server-side decisions, trace delivery) from waiting on a dead control
//! plane. The loops keep watching through an outage on their own schedule,
//! so that a pause or a policy change made during or just after an outage
//! applies within one interval of the control plane answering again.

use crate::control_plane::backoff;
use std::time::Duration;

/// How long a loop waits before its next round: its interval after an
/// answer; after `failures` failed rounds in a row, a jittered wait in
/// `[c/2, c]`, where `c` doubles from a quarter of the interval up to the
/// interval. Never slower than the interval, so the kill switch is not
/// blind for longer than usual once the control plane is back; the jitter
/// spreads many clients' retries after a shared outage.
pub fn next_wait(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let ceiling = backoff::ceiling(failures - 1, interval / 4, interval);
    let half = ceiling / 2;
    half + backoff::delay(0, ceiling - half, ceiling - half)
}

#[cfg(test)]
mod tests {
    use super::next_wait;
    use std::time::Duration;

    #[test]
    fn retries_are_jittered_and_never_slower_than_the_interval() {
        let interval = Duration::from_millis(800);
        assert_eq!(next_wait(interval, 0), interval);
        for failures in 1..40 {
            let waits: Vec<Duration> = (0..100).map(|_| next_wait(interval, failures)).collect();
            let ceiling = (interval / 4) * 2u32.pow((failures - 1).min(2));
            assert!(waits
                .iter()
                .all(|w| *w <= interval && *w <= ceiling && *w >= ceiling / 2));
            assert!(waits.iter().any(|w| *w != waits[0]), "jittered");
        }
    }
}
