//! What the host must do with a call, once the governor has looked at it.

use crate::decision::Violation;
use serde::Serialize;

/// Identifies a call between its decision and its completion.
pub type Ticket = u64;

/// Why [`crate::Governor::decide_by_tool`] left a call to the full
/// decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecided {
    /// An argument rule applies to this tool for this agent: while the
    /// policies stay the same, every call of it needs its arguments, so a
    /// host may skip the shortcut for it (the full decision is always
    /// right, only slower).
    NeedsArguments,
    /// Anything else: a refusal, a warning, the control plane, a pause, a
    /// closed governor. Say nothing about the next call.
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Go ahead; report the result with `complete(ticket, …)`.
    Allow {
        #[serde(skip_serializing_if = "Option::is_none")]
        ticket: Option<Ticket>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<Violation>,
        /// Set when no decision could be had and `fail_open` let the call
        /// through: the host reports it (`onEnforcementBypassed`).
        #[serde(skip_serializing_if = "Option::is_none")]
        bypass: Option<String>,
    },
    /// Refused by policy.
    Block {
        violations: Vec<Violation>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<Violation>,
    },
    /// The kill switch is on for this agent.
    Paused {
        #[serde(rename = "agentId")]
        agent_id: String,
        reason: Option<String>,
    },
    /// No decision could be had and `fail_closed` is set.
    Unavailable {
        reason: String,
        #[serde(rename = "consecutiveFailures")]
        consecutive_failures: u32,
    },
    /// The control plane rejected the API key.
    AuthFailed { message: String },
    /// The first policy sync has not finished: wait for it, then decide again.
    WaitForSync,
    /// The local check passed; the control plane must decide too.
    AskServer {
        ticket: Ticket,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<Violation>,
    },
    /// `shutdown()` was called.
    Closed,
}

impl Outcome {
    /// An allowed call with nothing to report: the hot path's answer, which a
    /// binding can pass back as the bare ticket.
    pub fn clean_ticket(&self) -> Option<Ticket> {
        match self {
            Outcome::Allow {
                ticket: Some(t),
                warnings,
                bypass: None,
            } if warnings.is_empty() => Some(*t),
            _ => None,
        }
    }
}
