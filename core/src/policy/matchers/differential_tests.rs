//! The combined matchers against rule-by-rule evaluation, on random large
//! policy sets and random arguments: the decisions must be equal, every
//! violation and warning, in order.

use crate::agent::AgentIdentity;
use crate::policy::{PolicySet, SourcedPolicy};
use serde_json::{json, Value};

/// Pieces that make overlapping patterns and values likely: case pairs
/// (`ſ`/`s`/`S`, `ς`/`σ`/`Σ`, `K`/`k`), wildcards, dots, separators.
const PIECES: &[&str] = &[
    "etc", "srv", "data", "a", "A", "s", "S", "ſ", "ς", "σ", "Σ", "K", "k", "x.", "..", ".", "*",
    "?", "**", "ssh", "-", " ", ":",
];

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

fn word(rng: &mut fastrand::Rng, wildcards: bool) -> String {
    let mut w = String::new();
    for _ in 0..rng.usize(1..=3) {
        let p = pick(rng, PIECES);
        if !wildcards && matches!(p, "*" | "?" | "**") {
            w.push('z');
        } else {
            w.push_str(p);
        }
    }
    w
}

fn path(rng: &mut fastrand::Rng, wildcards: bool) -> String {
    let mut p = String::from(pick(
        rng,
        &["/", "/", "/", "", "C:/", "\\", "//", "file:///", "~/", "c:"],
    ));
    for i in 0..rng.usize(0..=4) {
        if i > 0 {
            p.push_str(pick(rng, &["/", "/", "\\", "//"]));
        }
        p.push_str(if i == 0 && rng.u8(..3) == 0 {
            "srv"
        } else {
            ""
        });
        p.push_str(&word(rng, wildcards));
    }
    if rng.u8(..8) == 0 || p.is_empty() {
        p.push('/');
    }
    p
}

fn regex(rng: &mut fastrand::Rng) -> String {
    pick(
        rng,
        &[
            "^a", "s$", "ſ", "[σς]", "^/etc", "data", r"\d+", "^$", "k|K", "x\\.", r"\bsrv\b",
            "^.{3,5}$", "(?i)ss", ".",
        ],
    )
    .to_owned()
}

fn number(rng: &mut fastrand::Rng) -> Value {
    match rng.u8(..6) {
        0 => json!(rng.i64(-5..=5)),
        1 => json!(rng.i64(-5..=5) as f64 + 0.5),
        2 => json!(u64::MAX - rng.u64(..3)),
        3 => json!(9_007_199_254_740_993_i64 + rng.i64(-2..=2)),
        4 => json!(rng.f64() * 10.0 - 5.0),
        _ => json!(i64::MIN + rng.i64(0..3)),
    }
}

fn list(rng: &mut fastrand::Rng, make: impl Fn(&mut fastrand::Rng) -> String) -> Value {
    let n = rng.usize(0..=3);
    Value::Array((0..n).map(|_| Value::String(make(rng))).collect())
}

fn argument_rule(rng: &mut fastrand::Rng, shared: bool) -> Value {
    let argument = pick(rng, &["path", "/nested/path", "n", "q"]);
    let tools = json!([pick(rng, &["read_file", "read_*", "*", "write_file"])]);
    let mut rule = match rng.u8(..4) {
        0 => json!({"kind": "path",
            "allow": list(rng, |r| path(r, true)), "deny": list(rng, |r| path(r, true))}),
        1 => json!({"kind": "glob",
            "allow": list(rng, |r| word(r, true)), "deny": list(rng, |r| word(r, true))}),
        2 => json!({"kind": "regex", "allow": list(rng, regex), "deny": list(rng, regex)}),
        _ => {
            let (a, b) = (number(rng), number(rng));
            let (lo, hi) = if a.as_f64() <= b.as_f64() {
                (a, b)
            } else {
                (b, a)
            };
            let mut r = json!({"kind": "number"});
            if rng.bool() {
                r["min"] = lo;
            }
            if rng.bool() {
                r["max"] = hi;
            }
            r
        }
    };
    // A pattern on every allowlist (a common base): the case where one
    // match settles all allowlists at once.
    if shared && rule["kind"] == "path" {
        if let Some(allow) = rule["allow"].as_array_mut() {
            allow.push(json!("/srv/**"));
        }
    }
    rule["argument"] = json!(argument);
    rule["tools"] = tools;
    if rng.u8(..4) == 0 {
        rule["required"] = json!(true);
    }
    if rng.u8(..3) == 0 && rule["kind"] != "number" {
        rule["caseInsensitive"] = json!(true);
    }
    rule
}

fn policy(rng: &mut fastrand::Rng, i: usize, shared: bool) -> Value {
    let arguments: Vec<Value> = (0..rng.usize(0..=3))
        .map(|_| argument_rule(rng, shared))
        .collect();
    let mut rd = json!({ "arguments": arguments });
    if rng.u8(..10) == 0 {
        rd["deny"] = json!(["read_file"]);
    }
    if rng.u8(..10) == 0 {
        rd["allow"] = json!(["read_*"]);
        rd["defaultAction"] = json!("deny");
    }
    json!({
        "id": format!("pol_{i}"),
        "name": format!("P{i}"),
        "policyType": "tool_invocation",
        "enforcementMode": if rng.u8(..4) == 0 { "warn" } else { "block" },
        "ruleDefinition": rd,
    })
}

/// A generated policy that compiles (bounds may come out reversed when
/// compared exactly; such a policy is made again).
fn valid_policy(rng: &mut fastrand::Rng, i: usize, shared: bool) -> Value {
    loop {
        let p = policy(rng, i, shared);
        if PolicySet::compile_strict(&SourcedPolicy::from_values([p.clone()])).is_ok() {
            return p;
        }
    }
}

fn value(rng: &mut fastrand::Rng) -> Value {
    match rng.u8(..10) {
        0 => number(rng),
        1 => json!(null),
        2 => json!(rng.bool()),
        3 => Value::Array(
            (0..rng.usize(0..=4))
                .map(|_| {
                    if rng.u8(..5) == 0 {
                        number(rng)
                    } else {
                        json!(path(rng, false))
                    }
                })
                .collect(),
        ),
        4 => json!({"k": word(rng, false)}),
        5 | 6 => json!(word(rng, false)),
        _ => json!(path(rng, false)),
    }
}

fn arguments(rng: &mut fastrand::Rng) -> Option<String> {
    if rng.u8(..20) == 0 {
        return None;
    }
    let mut args = serde_json::Map::new();
    for key in ["path", "n", "q"] {
        if rng.u8(..5) != 0 {
            args.insert(key.into(), value(rng));
        }
    }
    if rng.bool() {
        args.insert("nested".into(), json!({"path": value(rng)}));
    }
    Some(Value::Object(args).to_string())
}

#[test]
fn combined_matchers_decide_exactly_as_rule_by_rule() {
    let agent = AgentIdentity::new("agent");
    let mut compared = 0usize;
    let mut blocked = 0usize;
    for seed in 0..12u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let n = [3, 20, 200, 600][seed as usize % 4];
        let policies: Vec<Value> = (0..n)
            .map(|i| valid_policy(&mut rng, i, seed % 2 == 1))
            .collect();
        let set = PolicySet::compile_strict(&SourcedPolicy::from_values(policies))
            .expect("generated policies are valid");
        for _ in 0..100 {
            let tool = pick(&mut rng, &["read_file", "read_text", "write_file"]);
            let args = arguments(&mut rng);
            let combined = set.evaluate(&agent, tool, args.as_deref());
            let reference = set.evaluate_rule_by_rule(&agent, tool, args.as_deref());
            assert_eq!(
                combined, reference,
                "seed {seed}, tool {tool}, arguments {args:?}"
            );
            compared += 1;
            blocked += usize::from(combined.is_blocked());
        }
    }
    // The generator must exercise both outcomes to mean anything.
    assert!(
        blocked > compared / 10 && blocked < compared,
        "{blocked} of {compared}"
    );
}

#[test]
fn unreadable_and_too_deep_arguments_fail_every_rule_in_order() {
    let policies = (0..50).map(|i| {
        json!({"id": format!("p{i}"), "name": format!("P{i}"), "policyType": "tool_invocation",
        "enforcementMode": "block", "ruleDefinition": {"arguments": [
            {"tools": ["*"], "argument": "path", "kind": "path", "allow": [format!("/d{i}/**")]}
        ]}})
    });
    let set = PolicySet::compile_strict(&SourcedPolicy::from_values(policies)).unwrap();
    let agent = AgentIdentity::new("agent");
    let deep = format!("{{\"path\": {}{}}}", "[".repeat(300), "]".repeat(300));
    for args in ["{not json", deep.as_str()] {
        let d = set.evaluate(&agent, "t", Some(args));
        assert_eq!(d, set.evaluate_rule_by_rule(&agent, "t", Some(args)));
        assert_eq!(d.violations.len(), 50);
    }
}
