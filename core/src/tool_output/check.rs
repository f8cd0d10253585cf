//! The scan of one allowed call's result: whether the agent's results are
//! scanned at all ([`Engine::scans_tool_outputs`], the host's cheap
//! question), and the control plane's verdict on one
//! ([`Engine::check_tool_output`]), as an [`Outcome`] the host applies
//! as it applies a call's decision: `Allow` (hand the result over),
//! `Block` (refuse it), `Unavailable`, `AuthFailed`.

use super::text::{model_text, scannable, Scannable, MAX_SCANNED_CHARS};
use super::TOOL_OUTPUT_SCAN;
use crate::bypass::BypassReason;
use crate::control_plane::EnforceRequest;
use crate::engine::{AgentHandle, Engine, Outcome, RemoteVerdict, Ticket};
use crate::log::one_line;
use crate::options::OutageMode;
use crate::stats::Stats;
use serde_json::{json, Value};

impl Engine {
    /// Whether the results of `handle`'s calls go to the scan: with a
    /// control plane, when `scanToolOutputs` is set or an active
    /// `tool_output_scan` policy is scoped to the agent.
    pub fn scans_tool_outputs(&self, handle: AgentHandle) -> bool {
        if self.connection.is_none() || self.is_closed() {
            return false;
        }
        if self.settings.scan_tool_outputs {
            return true;
        }
        let Some(reg) = self.agents.get(handle) else {
            return false;
        };
        self.policies
            .current()
            .has_server_type(&reg.state.identity.load(), TOOL_OUTPUT_SCAN)
    }

    /// Asks the control plane about `result_json` (a `CallToolResult`),
    /// the answer of an allowed call of `tool`; `ticket` (0: none) is the
    /// call's, whose record then says what the scan made of it. Without a
    /// control plane there is nothing to ask: allowed.
    pub async fn check_tool_output(
        &self,
        handle: AgentHandle,
        ticket: Ticket,
        tool: &str,
        result_json: &str,
    ) -> Outcome {
        let outcome = self.scan_output(handle, tool, result_json).await;
        let note = match &outcome {
            Outcome::Allow {
                bypass: Some(_), ..
            } => "bypassed",
            Outcome::Allow { .. } => "passed",
            Outcome::Block { .. } => "blocked",
            _ => "refused",
        };
        if let Some(call) = self.calls.lock().get_mut(&ticket) {
            call.output_scan = Some(note);
        }
        outcome
    }

    async fn scan_output(&self, handle: AgentHandle, tool: &str, result_json: &str) -> Outcome {
        let allow = |bypass| Outcome::Allow {
            ticket: None,
            warnings: vec![],
            bypass,
            approval: None,
        };
        let Some(connection) = &self.connection else {
            return allow(None);
        };
        if self.is_closed() {
            return Outcome::Closed;
        }
        let Some(reg) = self.agents.get(handle) else {
            return Outcome::Closed;
        };
        let result: Value = serde_json::from_str(result_json).unwrap_or(Value::Null);
        let items = match scannable(&model_text(&result)) {
            Scannable::Items(items) => items,
            // Not an outage: the result is there, it is only too long to
            // check. Refused whatever enforcementOnOutage says.
            Scannable::TooLarge(chars) => {
                Stats::bump(&self.stats.blocked);
                return Outcome::Unavailable {
                    reason: format!(
                        "the result of tool {:?} is too long to scan ({chars} characters; at most \
                         {MAX_SCANNED_CHARS}): it was not handed over",
                        one_line(tool)
                    ),
                    consecutive_failures: 0,
                };
            }
        };
        let outputs = items
            .into_iter()
            .map(|output| json!({ "name": tool, "input": format!("tool_output:{tool}"), "output": output }))
            .collect();
        let request = EnforceRequest::for_tool_output(
            reg.context.agent_id.to_string(),
            self.settings.environment.clone(),
            tool,
            outputs,
        );
        Stats::bump(&self.stats.remote_decisions);
        let verdict = crate::sync::remote::ask(connection, &self.log, &request).await;
        if let Some(b) = &self.bypasses {
            if verdict.is_decision() {
                b.recovered();
            }
        }
        match verdict {
            RemoteVerdict::Allowed { warnings } => Outcome::Allow {
                ticket: None,
                warnings,
                bypass: None,
                approval: None,
            },
            RemoteVerdict::Blocked { violations } if reg.enforce => {
                Stats::bump(&self.stats.blocked);
                Outcome::Block {
                    violations,
                    warnings: vec![],
                }
            }
            // Monitor mode: the refusal is a warning.
            RemoteVerdict::Blocked { violations } => Outcome::Allow {
                ticket: None,
                warnings: violations,
                bypass: None,
                approval: None,
            },
            // The scan has no approval flow: a 202 is no verdict on the
            // output, and is refused (never handed over unscanned).
            RemoteVerdict::ApprovalRequired(_) | RemoteVerdict::Undecided(_) => {
                Stats::bump(&self.stats.blocked);
                Outcome::Unavailable {
                    reason: format!(
                        "the Execlave control plane did not decide on the result of tool {:?}",
                        one_line(tool)
                    ),
                    consecutive_failures: connection.consecutive_failures(),
                }
            }
            RemoteVerdict::AuthFailed(status) => Outcome::AuthFailed { status },
            RemoteVerdict::Outage(reason, kind) => {
                self.output_outage(&reg.context.agent_id, tool, reason, kind)
            }
        }
    }

    /// No verdict on a result: `enforcementOnOutage` says whether it is
    /// handed over (a bypass, reported like a call's) or refused.
    fn output_outage(
        &self,
        agent_id: &str,
        tool: &str,
        reason: String,
        kind: BypassReason,
    ) -> Outcome {
        let failures = self
            .connection
            .as_ref()
            .map_or(0, |c| c.consecutive_failures());
        match self.settings.on_outage {
            OutageMode::FailClosed => {
                Stats::bump(&self.stats.blocked);
                Outcome::Unavailable {
                    reason,
                    consecutive_failures: failures,
                }
            }
            OutageMode::FailOpen => {
                Stats::bump(&self.stats.bypassed);
                self.log.said_once("first-output-bypass", || {
                    format!(
                        "the result of tool {:?} was handed over unscanned: {reason}. \
                         enforcementOnOutage is \"fail_open\"; said once, stats().bypassed counts them",
                        one_line(tool)
                    )
                });
                if let Some(b) = &self.bypasses {
                    b.record(agent_id, kind, &reason, failures);
                }
                Outcome::Allow {
                    ticket: None,
                    warnings: vec![],
                    bypass: Some(reason),
                    approval: None,
                }
            }
        }
    }
}
