//! The path normaliser, through the only door it has: `kind: path` rules.
//! The input is one path (a value, and a pattern).
//!
//! Invariants of the reference normaliser (docs/policies.md): normalising
//! twice gives the same path; a normalised path has no empty (`//`) or `.`
//! segment, an absolute one no `..`, a relative one `..` only in front.
//! Invariants of the engine, whatever its normaliser: a path matches
//! itself as a pattern; it matches the reference's normal form of it (and
//! that form matches it), so the engine resolves `..`, `.`, `\`, `//` and
//! `file://` like the docs say; `**` denies every string.

#![no_main]

use execlave_core_fuzz::model::{normalise, NPath, Root};
use execlave_core_fuzz::{agent, compile};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn rule_policy(kind: &str, patterns: &[&str], ci: bool) -> Value {
    json!({
        "id": "p", "name": "fuzz", "policyType": "tool_invocation", "enforcementMode": "block",
        "ruleDefinition": { "arguments": [
            { "tools": ["t"], "argument": "path", "kind": "path", kind: patterns, "caseInsensitive": ci }
        ]}
    })
}

/// Whether the engine lets value `path` pass a path rule whose `list`
/// ("allow" or "deny") is `patterns`; `None` when it refuses the policy.
fn passes(list: &str, patterns: &[&str], ci: bool, path: &str) -> Option<bool> {
    let (_, strict) = compile(&[rule_policy(list, patterns, ci)]);
    let set = strict?;
    let args = json!({ "path": path }).to_string();
    Some(
        !set.evaluate(&agent("a", None), "t", Some(&args))
            .is_blocked(),
    )
}

fn check_model(n: &NPath) {
    assert!(
        n.segments.iter().all(|s| !s.is_empty() && s != "."),
        "{n:?}"
    );
    match n.root {
        Root::None => {
            let ups = n.segments.iter().take_while(|s| *s == "..").count();
            assert!(n.segments[ups..].iter().all(|s| s != ".."), "{n:?}");
        }
        _ => assert!(n.segments.iter().all(|s| s != ".."), "{n:?}"),
    }
    if n.odd.is_none() {
        // (An odd path's normal form may read differently: `./e:/x` is
        // the relative `e:/x`, and `e:/x` written alone has a drive.)
        let again = normalise(&n.render());
        assert_eq!(
            (&again.root, &again.segments),
            (&n.root, &n.segments),
            "not idempotent"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if s.len() > 256 {
        return;
    }
    let n = normalise(s);
    check_model(&n);

    // Every string is under `**`, absolute or not (and both semantics of
    // issue 10 item 2 agree: `**` is not an absolute pattern).
    if let Some(pass) = passes("deny", &["**"], false, s) {
        assert!(!pass, "deny [\"**\"] let {s:?} through");
    }
    if n.odd.is_some() || s.trim().is_empty() {
        return; // issue 10 item 2 decides these; see the reference model test
    }
    let form = n.render();
    if let Some(pass) = passes("allow", &[s], false, s) {
        assert!(pass, "{s:?} does not match itself as a pattern");
    }
    if let Some(pass) = passes("allow", &[&form], false, s) {
        assert!(pass, "{s:?} does not match its normal form {form:?}");
    }
    if let Some(pass) = passes("deny", &[&form], false, s) {
        assert!(!pass, "deny [{form:?}] let {s:?} through");
    }
    if let Some(pass) = passes("allow", &[s], false, &form) {
        assert!(pass, "the normal form {form:?} does not match {s:?}");
    }
    if n.root == Root::Slash {
        if let Some(pass) = passes("deny", &["/**"], false, s) {
            assert!(!pass, "deny [\"/**\"] let absolute {s:?} through");
        }
    }
    if s.is_ascii() {
        let upper = s.to_ascii_uppercase();
        if let Some(pass) = passes("allow", &[&upper], true, s) {
            assert!(pass, "caseInsensitive: {upper:?} does not match {s:?}");
        }
    }
});
