//! Circuit breaker for control-plane calls: after a run of failures, stop
//! calling for a while instead of making every tool call wait for a timeout.
//!
//! ```text
//! Closed --(threshold consecutive failures)--> Open
//! Open --(cool_down elapsed)--> HalfOpen: one trial request
//! HalfOpen --success--> Closed
//! HalfOpen --failure--> Open (another cool_down)
//! ```
//!
//! Every method has an `_at(now)` twin that takes the current [`Instant`], so
//! tests drive the clock without sleeping; the plain methods use
//! `Instant::now()`.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures in a row that open the breaker, as in the official SDK.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// How long an open breaker refuses requests before a trial, as in the
/// official SDK.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(60);

/// The breaker's state, as the tests observe it (the SDK only asks
/// [`CircuitBreaker::allow_request`]).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through.
    Closed,
    /// Requests are refused until the cool-down has passed.
    Open,
    /// The cool-down has passed: one trial request may go through (or is
    /// under way); its outcome closes or re-opens the breaker.
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    consecutive_failures: u32,
    /// Set while open or half-open: when the breaker (last) opened.
    opened_at: Option<Instant>,
    /// Set while half-open once the trial request has been let through.
    trial_started: Option<Instant>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new(DEFAULT_FAILURE_THRESHOLD, DEFAULT_COOL_DOWN)
    }
}

impl CircuitBreaker {
    /// `threshold` consecutive failures open the breaker (0 is taken as 1);
    /// it stays open for `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cool_down,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    pub fn cool_down(&self) -> Duration {
        self.cool_down
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot panic; a poisoned lock still holds
        // consistent counters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May a request be sent now? While half-open this answers `true` once
    /// (the trial) and `false` to everyone else until the trial's outcome is
    /// recorded. A trial whose outcome is never recorded (its caller gave up)
    /// is forgotten after another `cool_down`, so the breaker cannot stick.
    pub fn allow_request(&self) -> bool {
        self.allow_request_at(Instant::now())
    }

    pub fn allow_request_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        let Some(opened_at) = inner.opened_at else {
            return true;
        };
        if now.saturating_duration_since(opened_at) < self.cool_down {
            return false;
        }
        match inner.trial_started {
            Some(started) if now.saturating_duration_since(started) < self.cool_down => false,
            _ => {
                inner.trial_started = Some(now);
                true
            }
        }
    }

    /// A request succeeded: the control plane is up, close the breaker.
    pub fn record_success(&self) {
        let mut inner = self.lock();
        *inner = Inner::default();
    }

    /// A request failed with an outage (see
    /// [`ApiError::is_outage`](super::ApiError::is_outage)).
    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now())
    }

    pub fn record_failure_at(&self, now: Instant) {
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        match inner.opened_at {
            None => {
                if inner.consecutive_failures >= self.threshold {
                    inner.opened_at = Some(now);
                }
            }
            Some(opened_at) => {
                let half_open = now.saturating_duration_since(opened_at) >= self.cool_down
                    || inner.trial_started.is_some();
                if half_open {
                    // The trial failed (or a failure arrived once the
                    // cool-down was over): another full cool-down.
                    inner.opened_at = Some(now);
                    inner.trial_started = None;
                }
                // Still open: a straggler that started before the breaker
                // opened; it does not extend the cool-down.
            }
        }
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.lock().consecutive_failures
    }

    #[cfg(test)]
    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    #[cfg(test)]
    pub fn state_at(&self, now: Instant) -> BreakerState {
        let inner = self.lock();
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(opened_at) if now.saturating_duration_since(opened_at) < self.cool_down => {
                BreakerState::Open
            }
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(60);

    #[test]
    fn defaults_match_the_official_sdk() {
        let b = CircuitBreaker::default();
        assert_eq!(b.threshold(), 3);
        assert_eq!(b.cool_down(), Duration::from_secs(60));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow_request());
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = CircuitBreaker::new(3, COOL);
        let t0 = Instant::now();
        b.record_failure_at(t0);
        b.record_failure_at(t0);
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        assert!(b.allow_request_at(t0));
        assert_eq!(b.consecutive_failures(), 2);
        b.record_failure_at(t0);
        assert_eq!(b.consecutive_failures(), 3);
        assert_eq!(b.state_at(t0), BreakerState::Open);
        assert!(!b.allow_request_at(t0));
        assert!(!b.allow_request_at(t0 + COOL - Duration::from_millis(1)));
    }

    #[test]
    fn success_resets_the_count() {
        let b = CircuitBreaker::new(3, COOL);
        let t0 = Instant::now();
        b.record_failure_at(t0);
        b.record_failure_at(t0);
        b.record_success();
        assert_eq!(b.consecutive_failures(), 0);
        b.record_failure_at(t0);
        b.record_failure_at(t0);
        assert_eq!(b.state_at(t0), BreakerState::Closed);
    }

    #[test]
    fn half_open_allows_exactly_one_trial_and_success_closes() {
        let b = CircuitBreaker::new(3, COOL);
        let t0 = Instant::now();
        for _ in 0..3 {
            b.record_failure_at(t0);
        }
        let t1 = t0 + COOL;
        assert_eq!(b.state_at(t1), BreakerState::HalfOpen);
        assert!(b.allow_request_at(t1), "the trial");
        assert!(!b.allow_request_at(t1), "only one trial");
        assert!(!b.allow_request_at(t1 + Duration::from_secs(1)));
        b.record_success();
        assert_eq!(b.state_at(t1), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        assert!(b.allow_request_at(t1));
        assert!(b.allow_request_at(t1));
    }

    #[test]
    fn failed_trial_reopens_for_another_cool_down() {
        let b = CircuitBreaker::new(3, COOL);
        let t0 = Instant::now();
        for _ in 0..3 {
            b.record_failure_at(t0);
        }
        let t1 = t0 + COOL + Duration::from_secs(5);
        assert!(b.allow_request_at(t1));
        b.record_failure_at(t1);
        assert_eq!(b.consecutive_failures(), 4);
        assert_eq!(b.state_at(t1), BreakerState::Open);
        assert!(!b.allow_request_at(t1 + COOL - Duration::from_millis(1)));
        let t2 = t1 + COOL;
        assert_eq!(b.state_at(t2), BreakerState::HalfOpen);
        assert!(b.allow_request_at(t2));
        assert!(!b.allow_request_at(t2));
    }

    #[test]
    fn straggler_failure_while_open_does_not_extend_cool_down() {
        let b = CircuitBreaker::new(1, COOL);
        let t0 = Instant::now();
        b.record_failure_at(t0);
        b.record_failure_at(t0 + Duration::from_secs(30));
        assert_eq!(b.state_at(t0 + COOL), BreakerState::HalfOpen);
    }

    #[test]
    fn abandoned_trial_is_forgotten_after_a_cool_down() {
        let b = CircuitBreaker::new(1, COOL);
        let t0 = Instant::now();
        b.record_failure_at(t0);
        let t1 = t0 + COOL;
        assert!(b.allow_request_at(t1));
        assert!(!b.allow_request_at(t1 + COOL - Duration::from_millis(1)));
        assert!(b.allow_request_at(t1 + COOL), "a new trial");
    }

    #[test]
    fn zero_threshold_is_one_and_shared_across_threads() {
        let b = std::sync::Arc::new(CircuitBreaker::new(0, COOL));
        assert_eq!(b.threshold(), 1);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || b.record_failure())
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.consecutive_failures(), 4);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow_request());
    }
}
