//! What the fuzz targets share: the reference model (the same file the
//! proptest uses), and the invariants every decision must keep whatever the
//! policies and the call.

#[path = "../../tests/reference_model/model.rs"]
pub mod model;
#[path = "../../tests/reference_model/values_reader.rs"]
pub mod values_reader;

use execlave_core::agent::AgentIdentity;
use execlave_core::decision::{Decision, Violation};
use execlave_core::policy::{PolicySet, SourcedPolicy};
use std::collections::BTreeSet;

/// A value put in the arguments that no violation may ever contain
/// (docs/policies.md: "A violation never contains the argument's value").
pub const SECRET: &str = "S3CR3T-8f1c2d";

pub type Keys = BTreeSet<(String, String, Option<String>)>;

pub fn keys(list: &[Violation]) -> Keys {
    list.iter()
        .map(|v| {
            (
                v.policy_id.clone(),
                v.rule.clone().unwrap_or_default(),
                v.argument.clone(),
            )
        })
        .collect()
}

/// Violations, warnings, needs_server: what the docs fix about a decision.
pub fn fixed(d: &Decision) -> (Keys, Keys, bool) {
    (keys(&d.violations), keys(&d.warnings), d.needs_server)
}

pub fn compile(values: &[serde_json::Value]) -> (PolicySet, Option<PolicySet>) {
    let sourced = SourcedPolicy::from_values(values.iter().cloned());
    let lenient = PolicySet::compile_lenient(&sourced).0;
    let strict = PolicySet::compile_strict(&sourced).ok();
    (lenient, strict)
}

/// Decides one call on `set` (and on `reversed`, the same policies in
/// reverse order) and checks what must hold for any policies and any call.
/// Returns the full-path decision.
pub fn decide_checked(
    set: &PolicySet,
    reversed: &PolicySet,
    agent: &AgentIdentity,
    tool: &str,
    args: Option<&str>,
    policies_text: &str,
) -> Decision {
    let full = set.evaluate(agent, tool, args);
    // The plan cache must not change the answer.
    assert_eq!(
        set.evaluate(agent, tool, args),
        full,
        "second evaluation differs"
    );
    assert_eq!(
        fixed(&reversed.evaluate(agent, tool, args)),
        fixed(&full),
        "the order of policies changed the result"
    );
    if let Some(fast) = set.evaluate_tool(agent, tool) {
        assert_eq!(
            fixed(&fast),
            fixed(&full),
            "fast path differs from the full path"
        );
    }
    assert_eq!(full.is_blocked(), !full.violations.is_empty());
    for (v, blocking) in full
        .violations
        .iter()
        .map(|v| (v, true))
        .chain(full.warnings.iter().map(|v| (v, false)))
    {
        let mode = v.enforcement_mode.as_str();
        assert_eq!(
            matches!(mode, "block" | "hard_block"),
            blocking,
            "a {mode} violation in the wrong list"
        );
        assert_eq!(v.tool.as_deref(), Some(tool));
        let rule = v.rule.as_deref().unwrap_or("");
        assert!(
            matches!(rule, "deny" | "not_allowed" | "argument"),
            "rule {rule:?}"
        );
        assert_eq!(rule == "argument", v.argument.is_some(), "{v:?}");
        if !policies_text.contains(SECRET) && !tool.contains(SECRET) {
            let text = serde_json::to_string(v).unwrap();
            assert!(
                !text.contains(SECRET),
                "a violation leaks the argument's value: {text}"
            );
        }
    }
    full
}

/// The set compiled from `values` in reverse order.
pub fn reversed(values: &[serde_json::Value]) -> PolicySet {
    let mut values = values.to_vec();
    values.reverse();
    compile(&values).0
}

pub fn agent(external: &str, internal: Option<&str>) -> AgentIdentity {
    AgentIdentity {
        external: external.to_owned(),
        internal: internal.map(str::to_owned),
    }
}
