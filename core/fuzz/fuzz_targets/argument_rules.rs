//! Argument-rule evaluation: a policy set and a call built from the input
//! (structured, from dictionaries of meaningful names plus free text).
//!
//! Invariants: nothing panics; every decision keeps `decide_checked`'s
//! invariants (deterministic, order-independent, fast path = full path,
//! modes in the right list, no argument value in a violation); and where
//! the docs fix the outcome, it equals the reference model's.

#![no_main]

use execlave_core_fuzz::model::{self, ArgRule, Kind, Policy, J};
use execlave_core_fuzz::{agent, compile, decide_checked, fixed, SECRET};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "query",
    "refund",
    "a*b",
    "x?y",
    "*",
    "",
];
const TOOL_PATTERNS: &[&str] = &[
    "read_*",
    "*_file",
    "write_file",
    "*",
    "?ead_file",
    "a*b",
    "x?y",
    "**",
    "refund",
];
const AGENTS: &[&str] = &["ops-agent", "support-agent", "agt_1", "agt_2"];
const MODES: &[&str] = &[
    "block",
    "hard_block",
    "warn",
    "log_only",
    "monitor",
    "require_approval",
    "Block",
];
const ARGUMENTS: &[&str] = &[
    "path",
    "amount",
    "/order/amount",
    "sql",
    "a/b",
    "/a~1b",
    "/x~0y",
    "/items/0",
    "/items/01",
    "items",
    "/",
    "/~2",
];
const KEYS: &[&str] = &[
    "path", "amount", "order", "sql", "a/b", "x~y", "items", "", "~1",
];
const PATHS: &[&str] = &[
    "/srv/data/**",
    "/etc/**",
    "/srv/*/passwd",
    "/",
    "**/.ssh/**",
    "**",
    "file:///etc/**",
    "\\srv\\**",
    "/e?c",
];
const PATH_VALUES: &[&str] = &[
    "/srv/data/../../etc/passwd",
    "\\srv\\data\\x",
    "file:///srv/data/%2E%2E/etc",
    "file://localhost/etc/passwd",
    "/srv//data/./x/",
    "secret/key.txt",
    "~/.ssh/id",
    " /etc",
    "C:foo",
    "\\\\?\\C:\\x",
    "//srv/x",
    "/etc/passwd:s",
    "/etc./x",
    "FILE:///ETC/PASSWD",
    "file:/etc/passwd",
    "/..",
    "",
];
const GLOBS: &[&str] = &["*", "a*", "?", "select*", "true", "1?", "*S3CR3T*"];
const REGEXES: &[&str] = &[
    r"^\s*select\b",
    r"\brm\b",
    "^[0-9]+$",
    "null",
    "(",
    r"\w{3}",
    ".*",
];
const BOUNDS: &[f64] = &[100.0, 0.0, -1.0, 0.1, 1e-5, 1e21, 2.5e-300];

fn pick(u: &mut Unstructured, dict: &[&str]) -> Result<String> {
    if u.ratio(1, 8)? {
        let s: String = u.arbitrary()?;
        return Ok(s.chars().take(24).collect());
    }
    Ok((*u.choose(dict)?).to_owned())
}

fn list(u: &mut Unstructured, dict: &[&str]) -> Result<Vec<String>> {
    let n = u.int_in_range(0..=3)?;
    (0..n).map(|_| pick(u, dict)).collect()
}

fn some_list(u: &mut Unstructured, dict: &[&str]) -> Result<Option<Vec<String>>> {
    Ok(if u.arbitrary()? {
        Some(list(u, dict)?)
    } else {
        None
    })
}

fn next_toward(x: f64, up: bool) -> f64 {
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if up { tiny } else { -tiny };
    }
    let away = (x > 0.0) == up;
    f64::from_bits(if away {
        x.to_bits() + 1
    } else {
        x.to_bits() - 1
    })
}

fn bound(u: &mut Unstructured) -> Result<Option<f64>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(*u.choose(BOUNDS)?),
        2 => Some(f64::from(u.int_in_range(-5i32..=105)?)),
        _ => Some(u.arbitrary()?),
    })
}

fn number(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.int_in_range(-10i32..=110)?.to_string(),
        1 => {
            let b = *u.choose(BOUNDS)?;
            let x = match u.int_in_range(0..=2)? {
                0 => b,
                1 => next_toward(b, true),
                _ => next_toward(b, false),
            };
            if u.arbitrary()? {
                format!("{x:e}")
            } else {
                format!("{x}")
            }
        }
        _ => {
            let x: f64 = u.arbitrary()?;
            if x.is_finite() {
                format!("{x}")
            } else {
                "1".into()
            }
        }
    })
}

fn value(u: &mut Unstructured, depth: u32) -> Result<J> {
    Ok(match u.int_in_range(0..=8)? {
        0 => J::Null,
        1 => J::Bool(u.arbitrary()?),
        2 => J::Num(number(u)?),
        3 => J::Str(pick(u, PATH_VALUES)?),
        4 => J::Str(SECRET.to_owned()),
        5 => J::Str(format!("/srv/data/{SECRET}")),
        6 if depth < 4 => {
            let n = u.int_in_range(0..=3)?;
            J::Arr((0..n).map(|_| value(u, depth + 1)).collect::<Result<_>>()?)
        }
        7 if depth < 4 => object(u, depth + 1)?,
        _ => J::Str(pick(u, GLOBS)?),
    })
}

fn object(u: &mut Unstructured, depth: u32) -> Result<J> {
    let n = u.int_in_range(0..=4)?;
    let mut entries: Vec<(String, J)> = Vec::new();
    for _ in 0..n {
        let k = pick(u, KEYS)?;
        let v = value(u, depth)?;
        entries.retain(|(old, _)| *old != k);
        entries.push((k, v));
    }
    Ok(J::Obj(entries))
}

fn arg_rule(u: &mut Unstructured) -> Result<ArgRule> {
    let kind = *u.choose(&[Kind::Path, Kind::Glob, Kind::Regex, Kind::Number])?;
    let dict = match kind {
        Kind::Path => PATHS,
        Kind::Glob => GLOBS,
        _ => REGEXES,
    };
    let numeric = kind == Kind::Number;
    Ok(ArgRule {
        tools: list(u, TOOL_PATTERNS)?,
        argument: pick(u, ARGUMENTS)?,
        kind,
        allow: if numeric { None } else { some_list(u, dict)? },
        deny: if numeric { None } else { some_list(u, dict)? },
        min: if numeric { bound(u)? } else { None },
        max: if numeric { bound(u)? } else { None },
        case_insensitive: u.arbitrary()?,
        required: u.arbitrary()?,
    })
}

fn policy(u: &mut Unstructured, i: usize) -> Result<Policy> {
    let n_rules = u.int_in_range(0..=3)?;
    Ok(Policy {
        id: format!("pol_{i}"),
        name: format!("Policy {i}"),
        policy_type: if u.ratio(1, 10)? {
            "rbac".into()
        } else {
            "tool_invocation".into()
        },
        mode: pick(u, MODES)?,
        active: !u.ratio(1, 10)?,
        applies_to: if u.ratio(1, 4)? {
            Some(list(u, AGENTS)?)
        } else {
            None
        },
        agent_id: if u.ratio(1, 5)? {
            Some(pick(u, AGENTS)?)
        } else {
            None
        },
        allow: list(u, TOOL_PATTERNS)?,
        deny: list(u, TOOL_PATTERNS)?,
        default_action: match u.int_in_range(0..=3)? {
            0 => Some("allow".into()),
            1 => Some("deny".into()),
            _ => None,
        },
        arguments: (0..n_rules).map(|_| arg_rule(u)).collect::<Result<_>>()?,
    })
}

/// Numbers the engine reads as exactly as the model (issue 10 item 3: once
/// serde_json parses with `float_roundtrip`, that is all of them).
fn numbers_exact(j: &J) -> bool {
    match j {
        J::Num(n) => serde_json::from_str::<f64>(n).ok() == n.parse::<f64>().ok(),
        J::Arr(items) => items.iter().all(numbers_exact),
        J::Obj(entries) => entries.iter().all(|(_, v)| numbers_exact(v)),
        _ => true,
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let n = u.int_in_range(1..=4)?;
    let policies: Vec<Policy> = (0..n).map(|i| policy(u, i)).collect::<Result<_>>()?;
    let external = pick(u, AGENTS)?;
    let internal = if u.arbitrary()? {
        Some(pick(u, AGENTS)?)
    } else {
        None
    };
    let tool = pick(u, TOOLS)?;
    let args = match u.int_in_range(0..=15)? {
        0 => None,
        1 => Some(J::Obj(vec![(
            "path".into(),
            (0..200).fold(J::Num("1".into()), |inner, _| J::Arr(vec![inner])),
        )])),
        _ => Some(object(u, 0)?),
    };

    let values: Vec<Value> = policies.iter().map(Policy::to_json).collect();
    let (lenient, strict) = compile(&values);
    let reversed = execlave_core_fuzz::reversed(&values);
    let who = agent(&external, internal.as_deref());
    let text = args.as_ref().map(J::render);
    let policies_text = Value::Array(values.clone()).to_string();
    let full = decide_checked(
        &lenient,
        &reversed,
        &who,
        &tool,
        text.as_deref(),
        &policies_text,
    );

    let Some(strict) = strict else { return Ok(()) };
    assert_eq!(
        fixed(&strict.evaluate(&who, &tool, text.as_deref())),
        fixed(&full)
    );
    let expected = model::decide(
        &policies,
        &model::Agent { external, internal },
        &tool,
        args.as_ref(),
    );
    let comparable = expected.unspecified.is_none()
        && args.as_ref().is_none_or(numbers_exact);
    if comparable {
        assert_eq!(
            fixed(&full),
            (
                expected.violations.clone(),
                expected.warnings.clone(),
                expected.needs_server
            ),
            "engine and reference model disagree: tool {tool:?} args {}\n{policies_text}",
            text.as_deref().unwrap_or("(none)"),
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
