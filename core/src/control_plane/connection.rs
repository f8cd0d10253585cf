//! The control plane as the rest of the core sees it: the client, the
//! circuit breaker that keeps the calls (server-side decisions, trace
//! delivery) from waiting on a dead control plane, and whether the key was
//! rejected. Background polls do not feed the breaker: they retry on their
//! own schedule (see `sync::schedule`) and count their failures apart. Background tasks and sinks hold
//! an `Arc<Connection>`, not the governor.

use super::{ApiClient, ApiError, CircuitBreaker};
use crate::log::Logger;
use crate::messages;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

/// What a failed policy sync is booked as (`poll_failed(e, POLICY_SYNC)`).
pub const POLICY_SYNC: &str = "policy sync";
use std::sync::Arc;

pub struct Connection {
    pub api: ApiClient,
    pub breaker: CircuitBreaker,
    /// The HTTP status (401 or 403) with which the key was last rejected;
    /// 0 while it is not. Every call is refused while it is set.
    rejected_key: AtomicU16,
    /// Background requests (policy sync, lookups, status polls) in a row
    /// that got no answer: reported with a refusal for want of a policy set.
    poll_failures: AtomicU32,
    log: Arc<Logger>,
}

impl Connection {
    pub fn new(api: ApiClient, breaker: CircuitBreaker, log: Arc<Logger>) -> Self {
        Self {
            api,
            breaker,
            rejected_key: AtomicU16::new(0),
            poll_failures: AtomicU32::new(0),
            log,
        }
    }

    /// The status of the answer that rejected the key, while it stands.
    pub fn rejected_key(&self) -> Option<u16> {
        match self.rejected_key.load(Ordering::Acquire) {
            0 => None,
            status => Some(status),
        }
    }

    /// How many failures in a row a refusal for want of an answer reports:
    /// the calls' or the background polls', whichever is more.
    pub fn consecutive_failures(&self) -> u32 {
        self.breaker
            .consecutive_failures()
            .max(self.poll_failures.load(Ordering::Relaxed))
    }

    /// A call's request (a decision, a delivery) got an answer: the control
    /// plane is up and takes the key.
    pub fn succeeded(&self) {
        self.breaker.record_success();
        self.rejected_key.store(0, Ordering::Release);
    }

    /// A background request got an answer: the key works. The breaker is
    /// left alone (it is the calls').
    pub fn answered(&self) {
        self.poll_failures.store(0, Ordering::Relaxed);
        self.rejected_key.store(0, Ordering::Release);
    }

    /// Books a call's failed request: a rejected key is a configuration
    /// error (said once, and every call refused), an outage counts for the
    /// breaker, anything else is only logged.
    pub fn failed(&self, e: &ApiError, what: &str) {
        if e.is_outage() {
            self.breaker.record_failure();
        }
        self.report(e, what);
    }

    /// Books a background request's failure: as [`Self::failed`], but an
    /// outage counts apart from the breaker.
    pub fn poll_failed(&self, e: &ApiError, what: &str) {
        if e.is_outage() {
            self.poll_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.report(e, what);
    }

    fn report(&self, e: &ApiError, what: &str) {
        match e {
            ApiError::Auth(status) => {
                self.rejected_key.store(*status, Ordering::Release);
                self.log
                    .once("auth-failed", || messages::auth_failed(*status));
            }
            // The first failed policy sync is said even without `debug`:
            // until one succeeds, the policies in force may be stale or none.
            e if what == POLICY_SYNC
                && self
                    .log
                    .said_once("first-sync-failed", || messages::first_sync_failed(e)) => {}
            e => self.log.debug(|| format!("{what} failed: {e}")),
        }
    }
}
