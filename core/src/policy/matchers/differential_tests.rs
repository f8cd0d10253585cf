//! The combined matchers against rule-by-rule evaluation, on random large
//! policy sets and random arguments: the decisions must be equal, every
//! violation and warning, in order.

use crate::agent::AgentIdentity;
use crate::policy::{ArgumentLookup, ArgumentValue, PolicySet, SourcedPolicy, ValuesVerdict};
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
    let argument = pick(rng, &["path", "/nested/path", "n", "q", "/list/1"]);
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
    // `/list/1`: an array element, or an object's key "1".
    match rng.u8(..4) {
        0 => drop(args.insert("list".into(), json!([value(rng), value(rng)]))),
        1 => drop(args.insert("list".into(), json!({"1": value(rng)}))),
        2 => drop(args.insert("list".into(), json!([value(rng)]))),
        _ => {}
    }
    Some(Value::Object(args).to_string())
}

/// A valid policy set of 3 to 600 random policies (by `seed`), half of
/// the seeds with a common base pattern on every path allowlist.
fn random_set(rng: &mut fastrand::Rng, seed: u64) -> PolicySet {
    let n = [3, 20, 200, 600][seed as usize % 4];
    let policies: Vec<Value> = (0..n)
        .map(|i| valid_policy(rng, i, seed % 2 == 1))
        .collect();
    PolicySet::compile_strict(&SourcedPolicy::from_values(policies))
        .expect("generated policies are valid")
}

#[test]
fn combined_matchers_decide_exactly_as_rule_by_rule() {
    let agent = AgentIdentity::new("agent");
    let mut compared = 0usize;
    let mut blocked = 0usize;
    for seed in 0..12u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let set = random_set(&mut rng, seed);
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

/// What a host (the Node binding's JS) reads at one lookup of the
/// arguments, as `policy::values` describes it: `None` when the value has
/// a shape the values path does not take (the host then makes the full
/// decision). Numbers are what a JS number can hold: one a double cannot
/// hold exactly is not taken either (JS never has one).
fn read_as_host(args: Option<&Value>, lookup: &ArgumentLookup) -> Option<ArgumentValue> {
    let mut at = args;
    for token in &lookup.tokens {
        at = match at {
            Some(Value::Object(map)) => map.get(token),
            Some(Value::Array(items)) if !lookup.object_only => {
                let index = (token == "0" || (!token.starts_with('0') && !token.is_empty()))
                    .then(|| token.parse::<usize>().ok())
                    .flatten()
                    .filter(|_| token.bytes().all(|b| b.is_ascii_digit()));
                index.and_then(|i| items.get(i))
            }
            _ => None,
        };
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(ArgumentValue::Text(s.clone())),
        Value::Number(n) => {
            let f = n.as_f64()?;
            let back = serde_json::Number::from_f64(f)?;
            (crate::policy::rules::cmp_exact(n, &back).is_eq()).then_some(ArgumentValue::Number(f))
        }
        _ => None,
    };
    match at {
        None => Some(ArgumentValue::Missing),
        Some(Value::Array(items)) => items
            .iter()
            .map(scalar)
            .collect::<Option<_>>()
            .map(ArgumentValue::List),
        Some(v) => scalar(v),
    }
}

#[test]
fn the_values_path_allows_only_what_the_full_decision_allows_cleanly() {
    let agent = AgentIdentity::new("agent");
    let (mut compared, mut clean, mut fast) = (0usize, 0usize, 0usize);
    for seed in 100..112u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let set = random_set(&mut rng, seed);
        for _ in 0..300 {
            let tool = pick(&mut rng, &["read_file", "read_text", "write_file"]);
            let args = arguments(&mut rng);
            let parsed: Option<Value> = args.as_deref().map(|a| serde_json::from_str(a).unwrap());
            let plan = set.argument_plan(&agent, tool);
            let Some(values) = plan
                .lookups
                .iter()
                .map(|l| read_as_host(parsed.as_ref(), l))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let full = set.evaluate(&agent, tool, args.as_deref());
            let full_clean =
                full.violations.is_empty() && full.warnings.is_empty() && !full.needs_server;
            let verdict = set.evaluate_values(&agent, tool, plan.id, &values);
            assert_ne!(
                verdict,
                ValuesVerdict::Stale,
                "seed {seed}: the plan is the same"
            );
            if verdict == ValuesVerdict::Clean {
                assert!(
                    full_clean,
                    "seed {seed}, tool {tool}, arguments {args:?}: {full:?}"
                );
            }
            // The reverse, for the values it takes as the rules do: a
            // number under a path, glob or regex rule is left to the full
            // decision (its text depends on how JSON wrote it), so only
            // calls with none are held to it.
            let only_natural = values.iter().all(|v| match v {
                ArgumentValue::Missing | ArgumentValue::Text(_) => true,
                ArgumentValue::Number(_) => false,
                ArgumentValue::List(items) => {
                    items.iter().all(|i| matches!(i, ArgumentValue::Text(_)))
                }
            });
            if full_clean && only_natural {
                assert_eq!(
                    verdict,
                    ValuesVerdict::Clean,
                    "seed {seed}, tool {tool}, arguments {args:?}"
                );
            }
            compared += 1;
            clean += usize::from(full_clean);
            fast += usize::from(verdict == ValuesVerdict::Clean);
        }
        // A plan named by an old id is stale, and a new set's plans are new.
        let plan = set.argument_plan(&agent, "read_file");
        assert_eq!(
            set.evaluate_values(&agent, "read_file", plan.id + 1_000_000, &[]),
            ValuesVerdict::Stale
        );
        let again = set.clone().argument_plan(&agent, "read_file");
        assert_ne!(again.id, plan.id);
        assert_eq!(again.lookups, plan.lookups);
    }
    // Both answers must be exercised to mean anything.
    assert!(
        fast > compared / 20 && clean < compared,
        "{fast} fast, {clean} clean of {compared}"
    );
}
