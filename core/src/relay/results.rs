//! Where an allowed call's answer comes back from the server: the one
//! place it is seen before it goes on to the host. The call is completed
//! here (its record gets the answer); a check of tool outputs belongs here
//! too.

use super::context::Context;
use crate::engine::calls::Ending;
use crate::engine::{Completion, Ticket};
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
