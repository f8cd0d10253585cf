//! Number rules hold to the last bit of an IEEE double: a value one ULP
//! beyond a bound fails it, a value at the bound passes, however both are
//! written in JSON (issue 10, item 3).

use execlave_core::agent::AgentIdentity;
use execlave_core::policy::{PolicySet, SourcedPolicy};

/// A set with one policy: tool `cap` has `n` within `[min, max]`, each
/// bound given as JSON text exactly as written (parsed like a policy file).
fn bounded(min: Option<&str>, max: Option<&str>) -> PolicySet {
    let mut rule = String::from(r#"{"tools": ["cap"], "argument": "n", "kind": "number""#);
    if let Some(min) = min {
        rule.push_str(&format!(r#", "min": {min}"#));
    }
    if let Some(max) = max {
        rule.push_str(&format!(r#", "max": {max}"#));
    }
    rule.push('}');
    let text = format!(
        r#"{{"name": "Cap", "policyType": "tool_invocation", "enforcementMode": "block",
             "ruleDefinition": {{"arguments": [{rule}]}}}}"#
    );
    let value = serde_json::from_str(&text).expect("policy JSON");
    PolicySet::compile_strict(&SourcedPolicy::from_values([value])).expect("valid policy")
}

/// True when the call `cap({"n": <value>})`, with the value's JSON text
/// exactly as written, is blocked.
fn blocks(set: &PolicySet, value: &str) -> bool {
    let args = format!(r#"{{"n": {value}}}"#);
    set.evaluate(&AgentIdentity::new("a"), "cap", Some(&args))
        .is_blocked()
}

/// The shortest JSON text that reads back as `x`.
fn json(x: f64) -> String {
    serde_json::to_string(&x).unwrap()
}

#[test]
fn the_issue_example_fails_max_100() {
    let set = bounded(None, Some("100"));
    assert!(!blocks(&set, "100"));
    assert!(!blocks(&set, "100.0"));
    assert!(blocks(&set, "100.00000000000001"));
    let set = bounded(Some("100"), None);
    assert!(blocks(&set, "99.99999999999999"));
    assert!(!blocks(&set, "100"));
}

/// Bounds of every magnitude: near 0, near 1, money-like, large, and
/// the ends of the finite range.
fn bounds() -> Vec<f64> {
    let mut out = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.3,
        100.0,
        99.99,
        1e-300,
        5e-324,
        1e300,
        -1e300,
        9_007_199_254_740_992.0,
        f64::MAX.next_down(),
        f64::MIN.next_up(),
        f64::MIN_POSITIVE,
    ];
    let mut rng = fastrand::Rng::with_seed(0x5eed_0003);
    for _ in 0..1500 {
        // Any finite double, from its bits.
        let x = f64::from_bits(rng.u64(..));
        if x.is_finite() && x.next_up().is_finite() && x.next_down().is_finite() {
            out.push(x);
        }
    }
    for _ in 0..1500 {
        // Decimal amounts as people write them.
        let cents = rng.i64(-10_000_000..10_000_000);
        out.push(cents as f64 / 100.0);
    }
    out
}

#[test]
fn one_ulp_beyond_either_bound_fails_and_the_bound_itself_passes() {
    let mut wrong = Vec::new();
    for b in bounds() {
        let max = bounded(None, Some(&json(b)));
        let min = bounded(Some(&json(b)), None);
        if blocks(&max, &json(b)) || blocks(&min, &json(b)) {
            wrong.push(format!("{} at the bound", json(b)));
        }
        if !blocks(&max, &json(b.next_up())) {
            wrong.push(format!("{} passes max {}", json(b.next_up()), json(b)));
        }
        if !blocks(&min, &json(b.next_down())) {
            wrong.push(format!("{} passes min {}", json(b.next_down()), json(b)));
        }
        if blocks(&max, &json(b.next_down())) || blocks(&min, &json(b.next_up())) {
            wrong.push(format!("a value one ULP inside {} fails", json(b)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

#[test]
fn integers_beyond_2_pow_53_compare_exactly() {
    // 2^53 + 1 is not a double: read as one it would round to 2^53.
    let set = bounded(None, Some("9007199254740992"));
    assert!(!blocks(&set, "9007199254740992"));
    assert!(blocks(&set, "9007199254740993"));
    assert!(blocks(&set, "18446744073709551615"));
    let set = bounded(None, Some("9007199254740993"));
    assert!(!blocks(&set, "9007199254740993"));
    assert!(blocks(&set, "9007199254740994"));
    assert!(!blocks(&set, "9007199254740992.0"));
    assert!(blocks(&set, "9007199254740994.0"));
    let set = bounded(Some("-9007199254740993"), None);
    assert!(!blocks(&set, "-9007199254740993"));
    assert!(blocks(&set, "-9007199254740994"));
    assert!(blocks(&set, "-9223372036854775808"));
    // A float bound against integer values next to it.
    let set = bounded(None, Some("1e19"));
    assert!(!blocks(&set, "10000000000000000000"));
    assert!(blocks(&set, "10000000000000000001"));
    let set = bounded(Some("0.5"), Some("1.5"));
    assert!(blocks(&set, "0"));
    assert!(!blocks(&set, "1"));
    assert!(blocks(&set, "2"));
}
