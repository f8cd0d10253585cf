//! `onBlock: 'result'`: the tool result a policy block becomes, for agent
//! loops that hand tool errors back to the model. Only policy blocks
//! become results; the host decides which errors those are.

use serde_json::{json, Value};

/// The CallToolResult: a text saying why, for the model; the violations
/// in `structuredContent`, for code.
pub fn blocked_call_result(message: &str, violations: Value, warnings: Value) -> Value {
    json!({
        "content": [{ "type": "text", "text": format!("The tool call was not made: {message}") }],
        "structuredContent": {
            "execlave": { "decision": "blocked", "violations": violations, "warnings": warnings },
        },
        "isError": true,
    })
}
