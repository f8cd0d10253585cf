//! The control plane as the rest of the core sees it: the client, the one
//! circuit breaker that keeps every part from hammering a dead control
//! plane, and whether the key was rejected. Background tasks and sinks hold
//! an `Arc<Connection>`, not the governor.

use super::{ApiClient, ApiError, CircuitBreaker};
use crate::log::Logger;
use crate::messages;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

pub struct Connection {
    pub api: ApiClient,
    pub breaker: CircuitBreaker,
    /// The HTTP status (401 or 403) with which the key was last rejected;
    /// 0 while it is not. Every call is refused while it is set.
    rejected_key: AtomicU16,
    log: Arc<Logger>,
}

impl Connection {
    pub fn new(api: ApiClient, breaker: CircuitBreaker, log: Arc<Logger>) -> Self {
        Self {
            api,
            breaker,
            rejected_key: AtomicU16::new(0),
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

    /// A request got an answer: the control plane is up and takes the key.
    pub fn succeeded(&self) {
        self.breaker.record_success();
        self.rejected_key.store(0, Ordering::Release);
    }

    /// Books a failed request: a rejected key is a configuration error (said
    /// once, and every call refused), an outage counts for the breaker,
    /// anything else is only logged.
    pub fn failed(&self, e: &ApiError, what: &str) {
        match e {
            ApiError::Auth(status) => {
                self.rejected_key.store(*status, Ordering::Release);
                self.log
                    .once("auth-failed", || messages::auth_failed(*status));
            }
            e => {
                if e.is_outage() {
                    self.breaker.record_failure();
                }
                self.log.debug(|| format!("{what} failed: {e}"));
            }
        }
    }
}
