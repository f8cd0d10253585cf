//! The wait for a human's approval (enforce answered 202): poll the
//! approval request until it is decided, then verify its certificate
//! against the very action context sent to enforce. Every path that is not
//! "approved and verified" refuses the call: an outage while polling is
//! retried until the approval timeout, never taken for an answer.
//!
//! Shutdown, a pause and the caller's cancellation are not this module's:
//! the governor races them against this wait.

use super::schedule::next_wait;
use crate::control_plane::approvals::{ApprovalState, Verification};
use crate::control_plane::endpoints::ActionContext;
use crate::control_plane::{ApiError, Connection, EnforceRequest};
use crate::log::Logger;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait for a decision, and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalTiming {
    pub timeout: Duration,
    pub poll_interval: Duration,
}

/// Why an approval did not let the call go ahead; a binding maps each to
/// its error class (`PolicyDeniedError`, …), never reading the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalFailure {
    /// A person (or the local approver) said no.
    Denied,
    /// The request expired, or no decision came within the timeout.
    TimedOut,
    /// The server says the certificate does not fit this action.
    CertificateMismatch,
    /// The approval could not be checked: a 202 without an id, a refused
    /// poll, a failed or malformed verification, an approver that threw.
    Unverifiable,
}

impl ApprovalFailure {
    /// The host's class name, as records carry it (`errorType`).
    pub fn error_type(self) -> &'static str {
        match self {
            ApprovalFailure::Denied => "PolicyDeniedError",
            ApprovalFailure::TimedOut => "ApprovalTimeoutError",
            ApprovalFailure::CertificateMismatch => "CertificateMismatchError",
            ApprovalFailure::Unverifiable => "ApprovalVerificationError",
        }
    }
}

/// A refused approval: what the host's error carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRefusal {
    pub failure: ApprovalFailure,
    pub approval_request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl ApprovalRefusal {
    pub fn new(failure: ApprovalFailure, id: &str) -> Self {
        Self {
            failure,
            approval_request_id: id.to_owned(),
            reason: None,
            cause: None,
        }
    }

    pub fn with_reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// What the user reads.
    pub fn message(&self) -> String {
        let id = &self.approval_request_id;
        // The local approver's: one id for all, so it names no request.
        let request = if id == crate::engine::local_approval::LOCAL_APPROVAL_ID {
            "the local approval".to_owned()
        } else {
            format!("the approval request {id}")
        };
        let detail = self
            .reason
            .as_deref()
            .or(self.cause.as_deref())
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        match self.failure {
            ApprovalFailure::Denied => {
                format!("{request} was denied{detail}; the call was not sent")
            }
            ApprovalFailure::TimedOut => {
                format!("{request} was not approved in time{detail}; the call was not sent")
            }
            ApprovalFailure::CertificateMismatch => format!(
                "the approval certificate of {request} does not match this call{detail}; the call \
                 was not sent"
            ),
            ApprovalFailure::Unverifiable => {
                format!("{request} could not be verified{detail}; the call was not sent")
            }
        }
    }
}

/// Waits for approval request `id` of `request` (the enforce request sent)
/// and verifies it. `Ok`: approved and verified, the call may go ahead once.
pub async fn await_approval(
    c: &Connection,
    log: &Logger,
    id: &str,
    request: &EnforceRequest,
    timing: ApprovalTiming,
    consent: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), ApprovalRefusal> {
    let deadline = Instant::now() + timing.timeout;
    let timed_out = || ApprovalRefusal::new(ApprovalFailure::TimedOut, id);
    let mut failures = 0;
    loop {
        let state = match tokio::time::timeout_at(deadline, c.api.approval_state(id)).await {
            Err(_) => return Err(timed_out()),
            Ok(state) => state,
        };
        match state {
            Ok(ApprovalState::Approved) => break,
            Ok(ApprovalState::Pending) => failures = 0,
            Ok(ApprovalState::Denied { reason }) => {
                return Err(ApprovalRefusal::new(ApprovalFailure::Denied, id).with_reason(reason))
            }
            Ok(ApprovalState::Expired) => {
                return Err(timed_out().with_reason(Some("the approval request expired".into())))
            }
            // Not now: asked again, with backoff, until the timeout. Never
            // an answer.
            Err(e) if e.is_enforce_outage() => {
                failures += 1;
                log.debug(|| format!("approval {id}: poll failed ({e}); asking again"));
            }
            Err(e) => return Err(unverifiable(id, "polling", &e)),
        }
        let wait = next_wait(timing.poll_interval, failures);
        if Instant::now() + wait >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(timed_out());
        }
        tokio::time::sleep(wait).await;
    }
    if let Some(consent) = consent {
        match tokio::time::timeout_at(deadline, consent).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(ApprovalRefusal::new(ApprovalFailure::Denied, id)
                    .with_reason(Some("the person asked did not accept the call".into())))
            }
            Err(_) => return Err(timed_out()),
        }
    }
    match c.api.verify_approval(id, ActionContext(request)).await {
        Ok(Verification::Valid) => Ok(()),
        Ok(Verification::Invalid { reason }) => {
            Err(ApprovalRefusal::new(ApprovalFailure::CertificateMismatch, id).with_reason(reason))
        }
        Err(e) => Err(unverifiable(id, "verifying", &e)),
    }
}

fn unverifiable(id: &str, doing: &str, e: &ApiError) -> ApprovalRefusal {
    let status = e
        .status()
        .map(|s| format!(" (HTTP {s})"))
        .unwrap_or_default();
    ApprovalRefusal::new(ApprovalFailure::Unverifiable, id)
        .with_cause(format!("{doing} the approval failed{status}: {e}"))
}
