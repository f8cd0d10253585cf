//! The `tools/call` gate: each call the host sends is decided before the
//! server sees it, the way the SDK's wrapper decides it (pins, then the
//! policies, the control plane, approvals), and a refusal is answered to
//! the host in-band or as an error (`--on-block`).

use super::approval::ask_in_host;
use super::cli::OnBlock;
use super::context::Context;
use super::framing::{error_answer, line_of, IdKey};
use super::remote_approval::{decide_remote, Remote};
use crate::decision::Violation;
use crate::engine::{Outcome, Ticket};
use crate::tools::in_band::blocked_call_result;
use crate::Governor;
use serde_json::{json, Value};
use std::future::Future;
use tokio::sync::oneshot;

/// The JSON-RPC error code of a refused call with `--on-block error`.
pub const REFUSED_CODE: i64 = -32001;

/// A `tools/call` request as the host sent it, read.
pub struct ToolCall {
    pub id: IdKey,
    pub tool: String,
    pub args_json: Option<String>,
    /// The whole request, as decided: what the server is sent (rewritten
    /// from this value, so that it cannot read anything else than what was
    /// decided, however its JSON parser treats odd input).
    pub request: Value,
}

impl ToolCall {
    /// Reads a `tools/call` request; an error is the invalid-params answer.
    pub fn read(id: IdKey, line: &[u8]) -> Result<ToolCall, Vec<u8>> {
        let invalid = |why: &str| {
            error_answer(
                id.json(),
                -32602,
                &format!("invalid tools/call: {why}; the call was not sent"),
                None,
            )
        };
        let request: Value = serde_json::from_slice(line).map_err(|_| invalid("not JSON"))?;
        let params = &request["params"];
        let Some(tool) = params["name"].as_str() else {
            return Err(invalid("params.name must be the tool's name (a string)"));
        };
        let args_json = match &params.get("arguments") {
            None | Some(Value::Null) => None,
            Some(args @ Value::Object(_)) => Some(args.to_string()),
            Some(_) => return Err(invalid("params.arguments must be an object")),
        };
        Ok(ToolCall {
            id,
            tool: tool.to_owned(),
            args_json,
            request,
        })
    }
}

/// What becomes of a call.
pub enum Verdict {
    /// Send it to the server; complete `ticket` with its answer.
    Forward(Ticket),
    /// Answer the host with this line; the server never sees the call.
    Refuse(Vec<u8>),
    /// The host gave up on the call while it waited for an approval: the
    /// wait was cancelled (recorded so), nothing is sent or answered.
    Withdrawn,
}

/// Decides one call, waiting for the control plane or the person where
/// the decision needs them.
/// `host_gave_up` resolves when the host cancels the call (or the relay
/// ends): a wait for an approval stops there, its question withdrawn.
pub async fn decide(
    ctx: &Context,
    call: &ToolCall,
    mut host_gave_up: oneshot::Receiver<()>,
) -> Verdict {
    if let Some(violation) = pin_violation(ctx, &call.tool) {
        let violations: Vec<Violation> =
            serde_json::from_value(json!([violation])).unwrap_or_default();
        let message = ctx
            .governor
            .refuse_by_host(
                ctx.agent(),
                call.tool.clone(),
                call.args_json.clone(),
                violations.clone(),
                false,
                None,
            )
            .unwrap_or_else(|e| e.message);
        return Verdict::Refuse(refusal(ctx, call, &message, &violations, &[]));
    }
    let g = &ctx.governor;
    let decide = || {
        g.decide(
            ctx.agent(),
            call.tool.clone(),
            call.args_json.clone(),
            true,
            true,
        )
    };
    let mut outcome = match decide() {
        Ok(o) => o,
        Err(e) => return Verdict::Refuse(refusal(ctx, call, &e.message, &[], &[])),
    };
    loop {
        outcome = match outcome {
            Outcome::Allow { ticket, bypass, .. } => {
                if let Some(reason) = bypass {
                    super::say(&format!(
                        "the call to {:?} was let through without a decision (fail-open): {reason}",
                        call.tool
                    ));
                }
                return Verdict::Forward(ticket.unwrap_or(0));
            }
            Outcome::WaitForSync => {
                let (g2, agent) = (g.clone(), ctx.agent());
                on_governor(g, async move { g2.wait_for_sync(agent).await }).await;
                match decide() {
                    Ok(o) => o,
                    Err(e) => return Verdict::Refuse(refusal(ctx, call, &e.message, &[], &[])),
                }
            }
            Outcome::AskServer { ticket, .. } => {
                let args = call.args_json.as_deref();
                let remote = tokio::select! {
                    remote = decide_remote(ctx, ticket, &call.tool, args) => remote,
                    _ = &mut host_gave_up => return withdrawn(g, ticket),
                };
                match remote {
                    Remote::Decided(outcome) => outcome,
                    Remote::RefusedInHost(reason) => {
                        return Verdict::Refuse(refusal(ctx, call, &reason, &[], &[]))
                    }
                }
            }
            Outcome::AskApprover {
                ticket, violations, ..
            } => {
                let args = call.args_json.as_deref();
                let verdict = tokio::select! {
                    verdict = ask_in_host(ctx, &call.tool, args, &violations) => verdict,
                    _ = &mut host_gave_up => return withdrawn(g, ticket),
                };
                g.settle_local_approval(ticket, verdict)
            }
            Outcome::Block {
                violations,
                warnings,
            } => {
                let message = crate::messages::blocked(&violations);
                return Verdict::Refuse(refusal(ctx, call, &message, &violations, &warnings));
            }
            other => {
                let message = other.message().unwrap_or_else(|| "refused".into());
                return Verdict::Refuse(refusal(ctx, call, &message, &[], &[]));
            }
        };
    }
}

/// The host cancelled the call waiting for an approval: the wait ends,
/// recorded as cancelled (the question in the host's window was withdrawn
/// when its future was dropped).
fn withdrawn(g: &Governor, ticket: Ticket) -> Verdict {
    g.cancel_because(
        ticket,
        "cancelled by the host while it waited for an approval",
    );
    Verdict::Withdrawn
}

/// Runs a governor future on the governor's own runtime (where its HTTP
/// client lives) and waits for it here.
pub(super) async fn on_governor<T: Send + 'static>(
    g: &Governor,
    future: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    g.run_async(future, move |result| {
        let _ = tx.send(result.ok());
    });
    rx.await.ok().flatten()
}

/// The pinned-definition check (`--tool-pins`), before any policy. Calls
/// before the host listed the tools cannot be checked: refused with
/// `--on-tool-change block`.
fn pin_violation(ctx: &Context, tool: &str) -> Option<Value> {
    let pins = ctx.pins.as_ref()?;
    let mut pins = pins.lock().unwrap_or_else(|e| e.into_inner());
    if pins.needs_listing() {
        return pins.unverified("the host called a tool before it listed the server's tools");
    }
    match pins.violation(tool) {
        Ok(v) => v,
        Err(e) => pins.unverified(&e.message),
    }
}

/// The in-band result as a host may check it: the decision moves from
/// `structuredContent` to `_meta`. A host validates `structuredContent`
/// against the tool's `outputSchema` (the MCP SDK's client does), and
/// ours is not the tool's shape: the refusal would become a protocol
/// error instead of the tool result the model and the user should read.
fn in_band_for_host(mut result: Value) -> Value {
    if let Some(object) = result.as_object_mut() {
        if let Some(decision) = object.remove("structuredContent") {
            object.insert("_meta".into(), decision);
        }
    }
    result
}

/// The answer to a refused call, as `--on-block` asks.
fn refusal(
    ctx: &Context,
    call: &ToolCall,
    message: &str,
    violations: &[Violation],
    warnings: &[Violation],
) -> Vec<u8> {
    refusal_to(ctx, &call.id, message, violations, warnings)
}

/// The answer to the refused call `id`, as `--on-block` asks.
pub(super) fn refusal_to(
    ctx: &Context,
    id: &IdKey,
    message: &str,
    violations: &[Violation],
    warnings: &[Violation],
) -> Vec<u8> {
    let violations = serde_json::to_value(violations).unwrap_or_default();
    let warnings = serde_json::to_value(warnings).unwrap_or_default();
    match ctx.config.on_block {
        OnBlock::Result => line_of(&json!({
            "jsonrpc": "2.0",
            "id": id.json(),
            "result": in_band_for_host(blocked_call_result(message, violations, warnings)),
        })),
        OnBlock::Error => error_answer(
            id.json(),
            REFUSED_CODE,
            &format!("The tool call was not made: {message}"),
            Some(
                json!({ "execlave": { "decision": "blocked", "violations": violations, "warnings": warnings } }),
            ),
        ),
    }
}
