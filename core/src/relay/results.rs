//! Where an allowed call's answer comes back from the server: the one
//! place it is seen before it goes on to the host. The call is completed
//! here (its record gets the answer), after the control plane's
//! `tool_output_scan` policies saw the result where the agent has any
//! (issue 22): a blocked result reaches neither the host nor the record.

use super::context::Context;
use super::framing::IdKey;
use super::gate::{on_governor, refusal_to};
use crate::engine::calls::Ending;
use crate::engine::{Completion, Outcome, Ticket};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorShape>,
}

#[derive(Deserialize)]
struct ErrorShape {
    message: Option<String>,
}

#[derive(Deserialize)]
struct ResultShape {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

/// Completes the allowed call `ticket` with the server's answer `line`
/// (a JSON-RPC response: a result, an `isError` result, or an error).
pub fn returned_call_result(ctx: &Context, ticket: Ticket, line: &[u8]) {
    let completion = match serde_json::from_slice::<Answer>(line) {
        Ok(Answer { error: Some(e), .. }) => Completion::threw(e.message, Some("McpError".into())),
        Ok(Answer {
            result: Some(result),
            ..
        }) => {
            let text = result.get();
            let is_error = serde_json::from_str::<ResultShape>(text)
                .ok()
                .and_then(|r| r.is_error)
                == Some(true);
            let mut c = Completion::answered(Some(text.to_owned()));
            if is_error {
                c.ending = Ending::AnsweredIsError;
            }
            c
        }
        _ => Completion::threw(
            Some("the server's answer could not be read".into()),
            Some("McpError".into()),
        ),
    };
    ctx.governor.complete(ticket, completion);
}

/// The host's answer (a whole line) to the allowed call `id` (`ticket`,
/// of `tool`) once the output scan saw the server's answer `line`: that
/// line, or the
/// refusal `--on-block` asks for when the scan blocked the result or could
/// not be had (as `enforcementOnOutage` says). An error answer carries no
/// result to scan and goes on as it is.
pub async fn scanned_call_result(
    ctx: &Context,
    id: &IdKey,
    ticket: Ticket,
    tool: String,
    line: Vec<u8>,
) -> Vec<u8> {
    let result = match serde_json::from_slice::<Answer>(&line) {
        Ok(Answer {
            result: Some(result),
            ..
        }) => result.get().to_owned(),
        _ => {
            returned_call_result(ctx, ticket, &line);
            return whole_line(line);
        }
    };
    let (g, agent, name) = (ctx.governor.clone(), ctx.agent(), tool.clone());
    let outcome = on_governor(&ctx.governor, async move {
        g.check_tool_output(agent, ticket, &name, &result).await
    })
    .await
    .unwrap_or(Outcome::Closed);
    let (message, violations, warnings) = match outcome {
        Outcome::Allow { .. } => {
            returned_call_result(ctx, ticket, &line);
            return whole_line(line);
        }
        Outcome::Block {
            violations,
            warnings,
        } => (crate::messages::blocked(&violations), violations, warnings),
        other => (
            other.message().unwrap_or_else(|| "refused".into()),
            Vec::new(),
            Vec::new(),
        ),
    };
    // The record says why, and holds nothing of the result.
    ctx.governor.complete(
        ticket,
        Completion::threw(Some(message.clone()), Some("PolicyBlockedError".into())),
    );
    refusal_to(ctx, id, &message, &violations, &warnings)
}

fn whole_line(mut line: Vec<u8>) -> Vec<u8> {
    line.push(b'\n');
    line
}
