//! What the host must do with a call, once the governor has looked at it.

use crate::bypass::BypassReason;
use crate::decision::Violation;
use crate::messages;
use crate::records::record::ApprovalNote;
use crate::sync::approval::ApprovalRefusal;
use serde::Serialize;

/// The policy type of the service's tool-definition checks.
pub const TOOL_INTEGRITY: &str = "tool_integrity";

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
    /// [`crate::Governor::decide_values`]: the values were read for a plan
    /// that is no longer the agent's plan for the tool (the policies
    /// changed, or the agent's identity): read them again for the new one
    /// ([`crate::Governor::argument_plan`]).
    Stale,
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
        /// The approval this call got, if it needed one (for the host's
        /// trace events).
        #[serde(skip_serializing_if = "Option::is_none")]
        approval: Option<Box<ApprovalNote>>,
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
    /// The control plane rejected the API key, with this HTTP status.
    AuthFailed { status: u16 },
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
    /// The call needed an approval, which did not let it go ahead.
    ApprovalRefused {
        #[serde(flatten)]
        refusal: ApprovalRefusal,
    },
    /// The caller cancelled the call while it waited for an approval.
    Cancelled,
    /// A local `require_approval` policy holds the call back: ask the
    /// client's approver, then report its answer with
    /// `settle_local_approval(ticket, …)`.
    AskApprover {
        ticket: Ticket,
        violations: Vec<Violation>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<Violation>,
    },
}

/// The control plane's part of a decision (see `sync::remote`).
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteVerdict {
    Allowed {
        warnings: Vec<Violation>,
    },
    Blocked {
        violations: Vec<Violation>,
    },
    /// No decision could be had: the reason, in words and as the
    /// bypass-window report names it. `enforcementOnOutage` applies.
    Outage(String, BypassReason),
    /// The server (or something in front of it) answered about this very
    /// request without deciding it: a 400, 404, 413, a redirect… Refused
    /// whatever `enforcementOnOutage` says: the arguments are a model's, and
    /// one that draws such an answer must not fail open.
    Undecided(String),
    /// The key was rejected with this status.
    AuthFailed(u16),
    /// 202: a human must approve, through this approval request (`None`:
    /// the answer named none, which is refused).
    ApprovalRequired(Option<String>),
}

impl Outcome {
    /// What the user reads when this outcome stops the call; `None` when it
    /// does not.
    pub fn message(&self) -> Option<String> {
        Some(match self {
            Outcome::Block { violations, .. } => messages::blocked(violations),
            Outcome::Paused { agent_id, reason } => messages::paused(agent_id, reason.as_deref()),
            Outcome::Unavailable { reason, .. } => messages::unavailable(reason),
            Outcome::AuthFailed { status } => messages::auth_failed(*status),
            Outcome::Closed => messages::CLOSED.to_string(),
            Outcome::ApprovalRefused { refusal } => refusal.message(),
            Outcome::Cancelled => messages::CANCELLED.to_string(),
            Outcome::Allow { .. }
            | Outcome::WaitForSync
            | Outcome::AskServer { .. }
            | Outcome::AskApprover { .. } => return None,
        })
    }

    /// The outcome as JSON for a host: its fields, and the `message` of an
    /// outcome that stops the call.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct WithMessage<'a> {
            #[serde(flatten)]
            outcome: &'a Outcome,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<String>,
            /// `ToolIntegrityError` when a `tool_integrity` policy made the
            /// block: the hosts raise that subclass of `PolicyBlockedError`.
            #[serde(rename = "errorClass", skip_serializing_if = "Option::is_none")]
            error_class: Option<&'static str>,
        }
        serde_json::to_string(&WithMessage {
            outcome: self,
            message: self.message(),
            error_class: self.is_tool_integrity().then_some("ToolIntegrityError"),
        })
        .expect("an outcome has string keys and no non-finite numbers")
    }

    /// A block made by a server `tool_integrity` policy (the tool
    /// definitions the agent uses differ from its baseline).
    pub fn is_tool_integrity(&self) -> bool {
        matches!(self, Outcome::Block { violations, .. }
            if violations.iter().any(|v| v.policy_type == TOOL_INTEGRITY))
    }

    /// An allowed call with nothing to report: the hot path's answer, which a
    /// binding can pass back as the bare ticket.
    pub fn clean_ticket(&self) -> Option<Ticket> {
        match self {
            Outcome::Allow {
                ticket: Some(t),
                warnings,
                bypass: None,
                approval: None,
            } if warnings.is_empty() => Some(*t),
            _ => None,
        }
    }
}

impl RemoteVerdict {
    /// The control plane decided (allowed, blocked, or asked for an
    /// approval): it is reachable again.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            RemoteVerdict::Allowed { .. }
                | RemoteVerdict::Blocked { .. }
                | RemoteVerdict::ApprovalRequired(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_its_message_and_an_allow_none() {
        let v: serde_json::Value =
            serde_json::from_str(&Outcome::AuthFailed { status: 403 }.to_json()).unwrap();
        assert_eq!(v["kind"], "auth_failed");
        assert_eq!(v["status"], 403);
        assert!(v["message"].as_str().unwrap().contains("HTTP 403"));
        let paused = Outcome::Paused {
            agent_id: "ops-agent".into(),
            reason: Some("incident 42".into()),
        };
        let v: serde_json::Value = serde_json::from_str(&paused.to_json()).unwrap();
        assert_eq!(v["message"], "agent ops-agent is paused: incident 42");
        assert_eq!(v["agentId"], "ops-agent");
        let allow = Outcome::Allow {
            ticket: Some(3),
            warnings: vec![],
            bypass: None,
            approval: None,
        };
        assert_eq!(allow.to_json(), r#"{"kind":"allow","ticket":3}"#);
    }

    #[test]
    fn a_tool_integrity_block_names_its_error_class() {
        let violation = |t: &str| Violation {
            policy_type: t.into(),
            ..serde_json::from_str("{}").unwrap()
        };
        let block = |t: &str| Outcome::Block {
            violations: vec![violation("rbac"), violation(t)],
            warnings: vec![],
        };
        let v: serde_json::Value =
            serde_json::from_str(&block("tool_integrity").to_json()).unwrap();
        assert_eq!(v["errorClass"], "ToolIntegrityError");
        let v: serde_json::Value =
            serde_json::from_str(&block("content_filter").to_json()).unwrap();
        assert!(v.get("errorClass").is_none());
    }
}
