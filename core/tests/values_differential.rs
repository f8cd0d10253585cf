//! Issue 18 item 1: the values path is a pure shortcut. On whole argument
//! objects built from hostile pieces (lone surrogates in keys and values,
//! NUL, deep nesting, huge numbers, `__proto__`), wherever they sit and
//! not only at the values a rule reads, it answers "allowed" only where
//! the full decision on the JSON text allows with nothing to report.

#[path = "reference_model/values_reader.rs"]
mod values_reader;

use execlave_core::agent::AgentIdentity;
use execlave_core::policy::{PolicySet, SourcedPolicy, ValuesVerdict};
use values_reader::{nested, policies, read_values, HOSTILE_KEYS, HOSTILE_VALUES};

fn set() -> PolicySet {
    let values = policies().as_array().unwrap().clone();
    PolicySet::compile_strict(&SourcedPolicy::from_values(values)).unwrap()
}

fn agent() -> AgentIdentity {
    AgentIdentity {
        external: "ops-agent".into(),
        internal: None,
    }
}

/// Checks one call both ways; returns whether the values path allowed it.
fn check(set: &PolicySet, tool: &str, text: &str) -> bool {
    let who = agent();
    let full = set.evaluate(&who, tool, Some(text));
    let plan = set.argument_plan(&who, tool);
    let Some(values) = read_values(&plan, Some(text)) else {
        return false;
    };
    let verdict = set.evaluate_values(&who, tool, plan.id, &values);
    if verdict == ValuesVerdict::Clean {
        assert!(
            full.violations.is_empty() && full.warnings.is_empty() && !full.needs_server,
            "the values path allowed what the full decision does not: {tool} {text}\n{full:?}"
        );
        return true;
    }
    false
}

/// A pseudo-random object: clean values at the rules' keys most of the
/// time, hostile pieces elsewhere (and sometimes there).
fn object(next: &mut impl FnMut(usize) -> usize, depth: usize) -> String {
    let mut entries = vec![r#""path": "/srv/a""#.to_owned()];
    for _ in 0..1 + next(3) {
        let key = HOSTILE_KEYS[next(HOSTILE_KEYS.len())];
        let value = match next(8) {
            0 if depth < 3 => object(next, depth + 1),
            1 if depth < 3 => format!("[{}]", object(next, depth + 1)),
            2 => nested(next(140), HOSTILE_VALUES[next(HOSTILE_VALUES.len())]),
            _ => HOSTILE_VALUES[next(HOSTILE_VALUES.len())].to_owned(),
        };
        entries.push(format!("{key}: {value}"));
    }
    format!("{{{}}}", entries.join(", "))
}

#[test]
fn hostile_whole_objects_are_allowed_by_the_values_path_only_where_the_full_decision_allows() {
    let set = set();
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n.max(1)
    };
    let (mut shortcut, mut unreadable) = (0, 0);
    for _ in 0..3000 {
        let text = object(&mut next, 0);
        let tool = ["read_file", "read_text"][next(2)];
        if serde_json::from_str::<serde_json::Value>(&text).is_err() {
            unreadable += 1;
        }
        if check(&set, tool, &text) {
            shortcut += 1;
        }
    }
    assert!(shortcut > 100, "the values path allowed {shortcut} calls");
    assert!(
        unreadable > 100,
        "{unreadable} objects the core cannot read"
    );
}

/// What the hosts' reader must never read: the full decision refuses (or
/// warns about) arguments it cannot read whenever an argument rule
/// applies, so taking the values path for them would allow what it
/// refuses (the hole of issue 18 item 1).
#[test]
fn unreadable_arguments_are_never_clean_for_the_full_decision() {
    let set = set();
    for text in [
        r#"{"path": "/srv/a", "other": "x\ud800"}"#,
        r#"{"path": "/srv/a", "k\udc00": 1}"#,
        r#"{"path": "/srv/a", "n": {"d": ["ok", {"z\ud83d": "y"}]}}"#,
        &format!(r#"{{"path": "/srv/a", "deep": {}}}"#, nested(140, "1")),
    ] {
        for tool in ["read_file", "read_text"] {
            let d = set.evaluate(&agent(), tool, Some(text));
            assert!(
                !d.violations.is_empty() || !d.warnings.is_empty(),
                "{tool} {text}: {d:?}"
            );
            let plan = set.argument_plan(&agent(), tool);
            assert!(read_values(&plan, Some(text)).is_none());
        }
    }
    // Readable, however odd: NUL, astral characters, huge numbers.
    let odd = r#"{"path": "/srv/a", "x": "\u0000\ud83d\ude00", "big": 1e308, "n": 18446744073709551616, "__proto__": {}}"#;
    assert!(check(&set, "read_file", odd), "{odd}");
}
