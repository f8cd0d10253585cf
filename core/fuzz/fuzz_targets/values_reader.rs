//! The values-path argument reader (issue 18 item 1): arguments built from
//! hostile pieces and free text, read as the hosts read them
//! (`tests/reference_model/values_reader.rs`).
//!
//! Invariants beyond "no panic": where the values path answers "allowed",
//! the full decision on the same JSON text allows with nothing to report;
//! arguments the core cannot read are never read by the values path, and
//! the full decision never lets them through clean when a rule applies;
//! the plan is stable (a second read gives the same plan and answer).

#![no_main]

use execlave_core::agent::AgentIdentity;
use execlave_core::policy::{PolicySet, SourcedPolicy, ValuesVerdict};
use execlave_core_fuzz::values_reader::{
    nested, policies, read_values, HOSTILE_KEYS, HOSTILE_VALUES,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn set() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let values = policies().as_array().unwrap().clone();
        PolicySet::compile_strict(&SourcedPolicy::from_values(values)).unwrap()
    })
}

fn piece(u: &mut Unstructured, depth: u32) -> Result<String> {
    Ok(match u.int_in_range(0..=5)? {
        0 if depth < 4 => object(u, depth + 1)?,
        1 if depth < 4 => format!("[{}, {}]", piece(u, depth + 1)?, piece(u, depth + 1)?),
        2 => nested(u.int_in_range(0..=150)?, u.choose(HOSTILE_VALUES)?),
        3 => {
            // Free text as a JSON string, escaped as JSON.stringify would.
            let s: String = u.arbitrary()?;
            serde_json::to_string(&s).unwrap()
        }
        _ => (*u.choose(HOSTILE_VALUES)?).to_owned(),
    })
}

fn object(u: &mut Unstructured, depth: u32) -> Result<String> {
    let mut entries = Vec::new();
    if u.arbitrary()? {
        entries.push(r#""path": "/srv/a""#.to_owned());
    }
    for _ in 0..u.int_in_range(0..=4)? {
        let key = if u.ratio(1, 6)? {
            serde_json::to_string(&u.arbitrary::<String>()?).unwrap()
        } else {
            (*u.choose(HOSTILE_KEYS)?).to_owned()
        };
        entries.push(format!("{key}: {}", piece(u, depth)?));
    }
    Ok(format!("{{{}}}", entries.join(", ")))
}

fn run(u: &mut Unstructured) -> Result<()> {
    let set = set();
    let who = AgentIdentity {
        external: "ops-agent".into(),
        internal: None,
    };
    let tool = *u.choose(&["read_file", "read_text", "read_many", "write_file"])?;
    let text = match u.int_in_range(0..=9)? {
        0 => None,
        1 => Some(String::from_utf8_lossy(u.bytes(u.len().min(256))?).into_owned()),
        _ => Some(object(u, 0)?),
    };
    let full = set.evaluate(&who, tool, text.as_deref());
    let plan = set.argument_plan(&who, tool);
    assert_eq!(set.argument_plan(&who, tool), plan, "the plan is stable");
    let readable = text
        .as_deref()
        .is_none_or(|t| serde_json::from_str::<serde_json::Value>(t).is_ok());
    let values = read_values(&plan, text.as_deref());
    if !readable {
        assert!(values.is_none(), "unreadable arguments were read");
        if !plan.lookups.is_empty() {
            assert!(
                !full.violations.is_empty() || !full.warnings.is_empty(),
                "unreadable arguments passed clean: {tool} {text:?}"
            );
        }
    }
    let Some(values) = values else { return Ok(()) };
    let verdict = set.evaluate_values(&who, tool, plan.id, &values);
    assert_eq!(set.evaluate_values(&who, tool, plan.id, &values), verdict);
    assert_ne!(verdict, ValuesVerdict::Stale, "the plan just read is stale");
    if verdict == ValuesVerdict::Clean {
        assert!(
            full.violations.is_empty() && full.warnings.is_empty() && !full.needs_server,
            "values path allowed what the full decision does not: {tool} {text:?}\n{full:?}"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
