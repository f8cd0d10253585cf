//! The values path's argument reader as the hosts implement it
//! (`lib/argument-values.js`' `valueAt` and `src/hot_call.rs`' conversion),
//! written over the JSON text the host would send, plus arguments built
//! from hostile pieces: shared by the differential test
//! (`tests/values_differential.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/values_reader.rs`).
//!
//! The host's contract: arguments the core cannot read as JSON (a lone
//! surrogate anywhere, nesting deeper than serde_json goes) are never read
//! here; the call goes to the full decision, which refuses or warns. So the
//! reader answers `None` ("make the full decision") for them, and for any
//! value of a shape the values path does not take.

use execlave_core::policy::{ArgumentLookup, ArgumentPlan, ArgumentValue};
use serde_json::Value;

/// The values at the plan's lookups, or `None`: the full decision decides.
pub fn read_values(plan: &ArgumentPlan, text: Option<&str>) -> Option<Vec<ArgumentValue>> {
    let args = match text {
        None => None,
        Some(text) => Some(serde_json::from_str::<Value>(text).ok()?),
    };
    plan.lookups
        .iter()
        .map(|lookup| value_at(args.as_ref(), lookup))
        .collect()
}

fn value_at(args: Option<&Value>, lookup: &ArgumentLookup) -> Option<ArgumentValue> {
    let Some(mut at) = args else {
        return Some(ArgumentValue::Missing);
    };
    for token in &lookup.tokens {
        let next = match at {
            Value::Object(map) => map.get(token),
            Value::Array(items) if !lookup.object_only && is_index(token) => {
                token.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Some(ArgumentValue::Missing),
        }
    }
    convert(at, true)
}

/// `0`, or digits without a leading zero (RFC 6901, as serde_json reads).
fn is_index(token: &str) -> bool {
    token == "0"
        || (!token.is_empty()
            && !token.starts_with('0')
            && token.bytes().all(|b| b.is_ascii_digit()))
}

fn convert(value: &Value, top: bool) -> Option<ArgumentValue> {
    match value {
        Value::String(s) => Some(ArgumentValue::Text(s.clone())),
        Value::Number(n) => Some(ArgumentValue::Number(n.as_f64()?)),
        Value::Array(items) if top => items
            .iter()
            .map(|item| convert(item, false))
            .collect::<Option<Vec<_>>>()
            .map(ArgumentValue::List),
        _ => None,
    }
}

/// JSON text fragments no well-behaved caller sends: lone surrogates
/// (escaped, as `JSON.stringify` and Python's `json` write them), NUL,
/// huge and tiny numbers, `__proto__`, deep nesting.
pub const HOSTILE_VALUES: &[&str] = &[
    r#""ok\ud800""#,
    r#""\udc00""#,
    r#""\ud83d\ude00""#,
    r#""a\u0000b""#,
    r#""\u0000""#,
    "1e308",
    "-1.7976931348623157e308",
    "18446744073709551616",
    "9007199254740993",
    "5e-324",
    "1e400",
    r#"{"__proto__": {"path": "/etc/passwd"}}"#,
    r#"{"k\ud800": 1}"#,
    r#"["/srv/a", "x\udfff"]"#,
    r#""/srv/a""#,
    r#""/etc/passwd""#,
    r#""secret""#,
    "7",
    "null",
    "true",
];

/// Keys, as JSON strings: the rules' own and others, hostile ones too.
pub const HOSTILE_KEYS: &[&str] = &[
    r#""path""#,
    r#""q""#,
    r#""other""#,
    r#""opts""#,
    r#""limit""#,
    r#""__proto__""#,
    r#""k\udc00""#,
    r#""\u0000""#,
    r#""a/b""#,
];

/// Nesting `depth` arrays around `inner`.
pub fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Policies whose argument rules read some keys of `read_file`'s
/// arguments, in block and in warn mode.
pub fn policies() -> serde_json::Value {
    serde_json::json!([{
        "id": "pol_block", "name": "Block", "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": { "arguments": [
            { "tools": ["read_*"], "argument": "path", "kind": "path", "allow": ["/srv/**"] },
            { "tools": ["read_file"], "argument": "q", "kind": "regex", "deny": ["secret"] },
            { "tools": ["read_file"], "argument": "/opts/limit", "kind": "number", "min": 0, "max": 100 }
        ] }
    }, {
        "id": "pol_warn", "name": "Warn", "policyType": "tool_invocation",
        "enforcementMode": "warn",
        "ruleDefinition": { "arguments": [
            { "tools": ["read_text"], "argument": "q", "kind": "glob", "deny": ["x*"] }
        ] }
    }])
}
