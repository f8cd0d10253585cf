//! The control plane's part of a decision, for calls that passed the local
//! check but need the server (policy types only it evaluates, or
//! `enforcement: 'remote'`).

use crate::control_plane::{enforce_input, ApiError, EnforceAnswer, EnforceRequest};
use crate::decision::Violation;
use crate::governor::{violations_message, Governor, AUTH_FAILED_MESSAGE};
use crate::outcome::{Outcome, Ticket};
use crate::stats::Stats;
use crate::sync::{failed, succeeded};
use serde_json::Value;

impl Governor {
    /// Asks the control plane about the pending call `ticket` (from an
    /// `AskServer` outcome). `input` overrides the text view of the
    /// arguments (`enforcePolicy({ input })`).
    pub async fn decide_remote(&self, ticket: Ticket, input: Option<String>) -> Outcome {
        let s = self.shared_ref();
        let request = {
            let pending = s.pending.lock().unwrap_or_else(|e| e.into_inner());
            let Some(call) = pending.get(&ticket) else {
                return Outcome::Unavailable {
                    reason: format!("no pending call {ticket} to decide"),
                    consecutive_failures: 0,
                };
            };
            let arguments: Value = call
                .args_full
                .as_deref()
                .map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.to_string())))
                .unwrap_or(Value::Null);
            let mut req = EnforceRequest::for_tool_call(
                call.context.agent_id.to_string(),
                s.options.environment.clone(),
                &call.tool,
                arguments,
            );
            if let Some(i) = input {
                req.input = enforce_input(&call.tool, &Value::String(i));
            }
            req
        };
        Stats::bump(&s.stats.remote_decisions);

        let answer = match &s.api {
            None => Err(ApiError::Network("no control plane configured".into())),
            Some(_) if !s.breaker.allow_request() => Err(ApiError::Network(format!(
                "circuit open after {} consecutive failures",
                s.breaker.consecutive_failures()
            ))),
            Some(api) => api.enforce(&request).await,
        };

        match answer {
            Ok(EnforceAnswer::Allowed { warnings }) => {
                succeeded(s);
                self.allow_pending(ticket, warnings)
            }
            Ok(EnforceAnswer::Blocked { violations }) => {
                succeeded(s);
                self.block_pending(ticket, violations)
            }
            Ok(EnforceAnswer::ApprovalRequired {
                approval_request_id,
            }) => {
                succeeded(s);
                let id = approval_request_id.unwrap_or_else(|| "unknown".into());
                let violation = Violation {
                    policy_name: "Human approval".into(),
                    policy_type: "approval".into(),
                    enforcement_mode: "require_approval".into(),
                    message: format!(
                        "a human must approve this call (approval request {id}); this SDK does not \
                         wait for approvals yet, so the call is blocked"
                    ),
                    rule: Some("approval_required".into()),
                    tool: Some(request.tools[0].clone()),
                    extra: [("approvalRequestId".to_string(), Value::String(id))]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                };
                self.block_pending(ticket, vec![violation])
            }
            Ok(EnforceAnswer::PlanLimit { message, .. }) => {
                succeeded(s);
                s.log.once("plan-limit", || {
                    format!("Execlave plan limit reached: {message}")
                });
                self.outage_pending(ticket, format!("plan limit reached: {message}"))
            }
            Err(ApiError::Auth(_)) => {
                failed(s, &ApiError::Auth(401), "remote decision");
                self.drop_pending(ticket);
                Stats::bump(&s.stats.blocked);
                Outcome::AuthFailed {
                    message: AUTH_FAILED_MESSAGE.into(),
                }
            }
            Err(e) => {
                failed(s, &e, "remote decision");
                self.outage_pending(
                    ticket,
                    format!("the Execlave control plane is unreachable: {e}"),
                )
            }
        }
    }

    fn take_pending(&self, ticket: Ticket) -> Option<crate::governor::PendingCall> {
        self.shared_ref()
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ticket)
    }

    fn drop_pending(&self, ticket: Ticket) {
        self.take_pending(ticket);
    }

    fn allow_pending(&self, ticket: Ticket, remote_warnings: Vec<Violation>) -> Outcome {
        let s = self.shared_ref();
        Stats::bump(&s.stats.allowed);
        let mut pending = s.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(call) = pending.get_mut(&ticket) else {
            return Outcome::Closed;
        };
        call.warnings.extend(remote_warnings);
        call.args_full = None;
        let warnings = call.warnings.clone();
        if !warnings.is_empty() {
            Stats::bump(&s.stats.warned);
        }
        let ticket = if call.record_completion {
            Some(ticket)
        } else {
            pending.remove(&ticket);
            None
        };
        Outcome::Allow {
            ticket,
            warnings,
            bypass: None,
        }
    }

    fn block_pending(&self, ticket: Ticket, violations: Vec<Violation>) -> Outcome {
        let s = self.shared_ref();
        Stats::bump(&s.stats.blocked);
        let Some(call) = self.take_pending(ticket) else {
            return Outcome::Closed;
        };
        self.record_refusal(
            &call.context,
            call.tool,
            call.input,
            violations.clone(),
            call.warnings.clone(),
            Some(violations_message(&violations)),
            "PolicyBlockedError",
            false,
        );
        Outcome::Block {
            violations,
            warnings: call.warnings,
        }
    }

    fn outage_pending(&self, ticket: Ticket, reason: String) -> Outcome {
        let Some(call) = self.take_pending(ticket) else {
            return Outcome::Closed;
        };
        self.outage(
            call.context,
            call.tool,
            call.input,
            call.warnings,
            call.record_completion,
            reason,
            false,
        )
    }
}
