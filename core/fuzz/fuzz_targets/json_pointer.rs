//! JSON Pointer lookups of argument rules. Input: the `argument` (first
//! line) and the arguments' JSON text (the rest).
//!
//! Invariants, against an RFC 6901 reference: a pointer with a `~` escape
//! other than `~0`/`~1` is refused when the policy is compiled (a typo
//! must not make a rule look at nothing); otherwise a `required` rule
//! fails exactly when the reference finds nothing there, and a string
//! found there is the value checked.

#![no_main]

use execlave_core_fuzz::model::{lookup, parse_pointer, Pointer, J};
use execlave_core_fuzz::{agent, compile};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn policy(argument: &str, list: &str, patterns: &[String]) -> Value {
    json!({
        "id": "p", "name": "fuzz", "policyType": "tool_invocation", "enforcementMode": "block",
        "ruleDefinition": { "arguments": [
            { "tools": ["t"], "argument": argument, "kind": "regex", list: patterns, "required": true }
        ]}
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (argument, args_text) = text.split_once('\n').unwrap_or((text, "{}"));
    if argument.trim().is_empty() {
        return; // a blank argument name is the policy format's business
    }
    let pointer = parse_pointer(argument);
    let anything = vec!["(?s).*".to_owned()];
    let (_, strict) = compile(&[policy(argument, "allow", &anything)]);
    if pointer == Pointer::Invalid {
        assert!(
            strict.is_none(),
            "invalid JSON Pointer {argument:?} accepted"
        );
        return;
    }
    let set = strict.unwrap_or_else(|| panic!("valid argument {argument:?} refused"));
    let Ok(args) = serde_json::from_str::<Value>(args_text) else {
        return; // unreadable arguments: covered by argument_rules
    };
    let args_j = J::from_value(&args);
    let found = lookup(&args_j, &pointer);
    if let Some(J::Arr(items)) = found {
        if items.iter().any(|i| matches!(i, J::Arr(_))) {
            return; // arrays in arrays: the docs leave them open
        }
    }
    let who = agent("a", None);
    let blocked = set.evaluate(&who, "t", Some(args_text)).is_blocked();
    assert_eq!(
        blocked,
        found.is_none(),
        "{argument:?} in {args_text}: found {found:?}"
    );
    if let Some(J::Str(s)) = found {
        let exact = vec![format!("^{}$", regex::escape(s))];
        if let (_, Some(set)) = compile(&[policy(argument, "deny", &exact)]) {
            let d = set.evaluate(&who, "t", Some(args_text));
            assert!(
                d.is_blocked(),
                "{argument:?} did not check {s:?} in {args_text}"
            );
        }
    }
});
