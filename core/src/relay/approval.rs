//! Approvals in the host's own window: a call a local `require_approval`
//! policy holds back is put to the person at the keyboard through MCP's
//! `elicitation/create`, when the host declared it can ask. Anything but
//! an explicit approval refuses the call.

use super::context::Context;
use crate::decision::Violation;
use crate::engine::local_approval::LocalVerdict;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the person has to answer before the call is refused.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);

/// How much of the arguments the question shows.
const SHOWN_ARGUMENTS: usize = 1000;

/// Asks the host's user about the call; their answer as the approver's.
pub async fn ask_in_host(
    ctx: &Context,
    tool: &str,
    args_json: Option<&str>,
    violations: &[Violation],
) -> LocalVerdict {
    if !ctx.host().elicitation {
        return LocalVerdict::Failed(
            "the host cannot ask its user (it did not declare the elicitation capability)".into(),
        );
    }
    ask(
        ctx,
        question(&ctx.config.agent_id, tool, args_json, violations),
    )
    .await
}

/// Puts `message` to the host's user (who must be able to be asked); their
/// answer, or a timeout after `--approval-timeout` (default
/// [`APPROVAL_TIMEOUT`]). A question that ends unanswered (the timeout, or
/// the caller dropping this future) is withdrawn in the host.
pub async fn ask(ctx: &Context, message: String) -> LocalVerdict {
    let params = json!({
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "approve": {
                    "type": "boolean",
                    "title": "Approve this tool call",
                    "description": "Check to let the call go ahead; anything else refuses it.",
                }
            },
            "required": ["approve"],
        },
    });
    let timeout = ctx.config.approval_timeout.unwrap_or(APPROVAL_TIMEOUT);
    match tokio::time::timeout(timeout, ctx.ask_host("elicitation/create", params)).await {
        Err(_) => LocalVerdict::TimedOut,
        Ok(None) => LocalVerdict::Failed("the relay ended before the host answered".into()),
        Ok(Some(answer)) => verdict_of(&answer),
    }
}

/// Only `accept` with `approve: true` approves.
fn verdict_of(answer: &Value) -> LocalVerdict {
    if let Some(error) = answer.get("error") {
        let message = error["message"].as_str().unwrap_or("no message");
        return LocalVerdict::Failed(format!("the host could not ask: {message}"));
    }
    let result = &answer["result"];
    match result["action"].as_str() {
        Some("accept") if result["content"]["approve"] == json!(true) => LocalVerdict::Approved,
        Some("accept") => LocalVerdict::Denied {
            reason: Some("not approved in the host".into()),
        },
        Some("decline") => LocalVerdict::Denied {
            reason: Some("declined in the host".into()),
        },
        Some("cancel") => LocalVerdict::Denied {
            reason: Some("cancelled in the host".into()),
        },
        _ => LocalVerdict::Failed(
            "the host answered the approval request in an unknown shape".into(),
        ),
    }
}

/// The call's arguments as the question shows them: at most
/// [`SHOWN_ARGUMENTS`] bytes, and how long they are in all beyond that.
pub fn shown_arguments(args_json: Option<&str>) -> String {
    let args = args_json.unwrap_or("{}");
    if args.len() <= SHOWN_ARGUMENTS {
        return args.to_owned();
    }
    let mut cut = SHOWN_ARGUMENTS;
    while !args.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &args[..cut], args.len())
}

fn question(agent: &str, tool: &str, args_json: Option<&str>, violations: &[Violation]) -> String {
    let args = shown_arguments(args_json);
    let policies: Vec<String> = violations
        .iter()
        .map(|v| format!("\"{}\": {}", v.policy_name, v.message))
        .collect();
    format!(
        "Execlave: agent {agent} wants to call the tool \"{tool}\" with the arguments {args}.\n\
         A policy requires your approval: {}.\nApprove this call?",
        policies.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_approval_approves() {
        let answer = |r: Value| json!({ "result": r });
        assert_eq!(
            verdict_of(&answer(
                json!({"action": "accept", "content": {"approve": true}})
            )),
            LocalVerdict::Approved
        );
        for r in [
            json!({"action": "accept", "content": {"approve": false}}),
            json!({"action": "accept", "content": {"approve": "true"}}),
            json!({"action": "accept"}),
            json!({"action": "decline"}),
            json!({"action": "cancel"}),
        ] {
            assert!(matches!(
                verdict_of(&answer(r)),
                LocalVerdict::Denied { .. }
            ));
        }
        assert!(matches!(
            verdict_of(&json!({"error": {"code": -32601, "message": "no"}})),
            LocalVerdict::Failed(_)
        ));
    }
}
