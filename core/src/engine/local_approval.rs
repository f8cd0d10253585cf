//! Local approvals: a call a local `tool_invocation` policy in
//! `require_approval` mode would block is held back for the client's
//! approver (a host function: a terminal prompt, a Slack message, a web
//! page). Without an approver it is refused, never let through: no
//! control plane is asked, and `enforcementOnOutage` has no say.
//!
//! The host asks its approver and reports the answer with
//! [`Engine::settle_local_approval`]; the core keeps the call, its record
//! and the counts.

use super::decide::{Engine, Refused};
use super::outcome::{Outcome, Ticket};
use super::rounds::CallLink;
use crate::decision::{Decision, Violation};
use crate::records::record::{ApprovalNote, CallContext, DecidedBy, Refusal};
use crate::stats::Stats;
use crate::sync::approval::{ApprovalFailure, ApprovalRefusal};
use std::sync::atomic::Ordering;

/// The `approvalRequestId` of an approval asked of the local approver.
pub const LOCAL_APPROVAL_ID: &str = "local";

/// The approver's answer, as the host read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalVerdict {
    Approved,
    Denied {
        reason: Option<String>,
    },
    /// The approver threw, or answered something else than the documented
    /// shape: the cause.
    Failed(String),
    /// No answer within `approvalTimeoutMs`.
    TimedOut,
}

/// A call being decided, as `decide` has it when it must hold it back.
pub(super) struct HeldCall {
    pub(super) context: CallContext,
    pub(super) tool: String,
    pub(super) args_json: Option<String>,
    pub(super) track: bool,
    /// It needs the control plane's decision too, once approved.
    pub(super) needs_server: bool,
    pub(super) link: Option<CallLink>,
}

impl Engine {
    /// The call needs the local approver (`decision.approvals`): held back
    /// for it, or refused when there is none.
    pub(super) fn hold_for_approver(
        &self,
        call: HeldCall,
        decision: Decision,
        completions_owed: bool,
    ) -> Outcome {
        if !self.settings.local_approver {
            Stats::bump(&self.stats.blocked);
            let violations: Vec<Violation> = decision
                .approvals
                .into_iter()
                .map(without_approver)
                .collect();
            let outcome = Outcome::Block {
                violations: violations.clone(),
                warnings: decision.warnings.clone(),
            };
            let refused = Refused {
                kind: Refusal::PolicyBlocked,
                message: crate::messages::blocked(&violations),
                violations,
                warnings: decision.warnings,
                decided_by: DecidedBy::Local,
                link: call.link,
                approval: None,
            };
            self.record_refusal(
                call.context,
                call.tool,
                call.args_json,
                refused,
                completions_owed,
            );
            return outcome;
        }
        let ticket = self.start_pending(
            call.context,
            call.tool,
            call.args_json,
            decision.warnings.clone(),
            call.track,
            DecidedBy::Local,
            true,
        );
        if let Some(pending) = self.calls.lock().get_mut(&ticket) {
            pending.server_after_approval = call.needs_server;
            pending.link = call.link;
            pending.approval = Some(Box::new(ApprovalNote {
                id: LOCAL_APPROVAL_ID.into(),
                outcome: "waiting",
                waited_ms: 0.0,
            }));
        }
        self.stats.approvals_waiting.fetch_add(1, Ordering::Relaxed);
        Outcome::AskApprover {
            ticket,
            violations: decision.approvals,
            warnings: decision.warnings,
        }
    }

    /// The approver answered about the held call `ticket`: it goes ahead
    /// (or on to the control plane), or it is refused and recorded.
    pub fn settle_local_approval(&self, ticket: Ticket, verdict: LocalVerdict) -> Outcome {
        let waited_ms = {
            let pending = self.calls.lock();
            let Some(call) = pending.get(&ticket) else {
                // Cancelled meanwhile (the cancel recorded it), or unknown.
                return Outcome::Cancelled;
            };
            call.started.elapsed().as_secs_f64() * 1000.0
        };
        self.stats.approvals_waiting.fetch_sub(1, Ordering::Relaxed);
        if self.is_closed() {
            self.calls.take(ticket);
            return Outcome::Closed;
        }
        let refusal = |failure| ApprovalRefusal::new(failure, LOCAL_APPROVAL_ID);
        let refusal = match verdict {
            LocalVerdict::Approved => return self.grant_local(ticket, waited_ms),
            LocalVerdict::Denied { reason } => refusal(ApprovalFailure::Denied).with_reason(reason),
            LocalVerdict::Failed(cause) => refusal(ApprovalFailure::Unverifiable).with_cause(cause),
            LocalVerdict::TimedOut => refusal(ApprovalFailure::TimedOut),
        };
        self.refuse_approval(ticket, refusal, waited_ms)
    }

    fn grant_local(&self, ticket: Ticket, waited_ms: f64) -> Outcome {
        Stats::bump(&self.stats.approvals_granted);
        let then_server = {
            let mut pending = self.calls.lock();
            let Some(call) = pending.get_mut(&ticket) else {
                return Outcome::Cancelled;
            };
            call.approval = Some(Box::new(ApprovalNote {
                id: LOCAL_APPROVAL_ID.into(),
                outcome: "granted",
                waited_ms: (waited_ms * 1000.0).round() / 1000.0,
            }));
            if call.server_after_approval {
                call.decided_by = DecidedBy::Remote;
                Some(call.warnings.clone())
            } else {
                None
            }
        };
        match then_server {
            Some(warnings) => Outcome::AskServer { ticket, warnings },
            None => self.allow_pending(ticket, vec![]),
        }
    }
}

/// A violation that needs approval, with no approver to ask: it says which
/// policy wants approval and how to configure one.
fn without_approver(mut v: Violation) -> Violation {
    v.message = format!(
        "{}; policy {:?} requires approval (require_approval) and no approver is configured: \
         pass an approver to the client (`new Execlave({{ approver }})` in Node, \
         `Execlave(approver=...)` in Python)",
        v.message, v.policy_name
    );
    v
}
