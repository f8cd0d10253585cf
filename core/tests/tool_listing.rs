//! Which listed tools the policies refuse by name alone
//! (`Governor::refused_by_name`): what a host hides from the model.

use execlave_core::Governor;
use serde_json::{json, Value};

fn governor(policies: Value) -> Governor {
    Governor::new(serde_json::from_value(json!({ "policies": policies })).unwrap()).unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn block(name: &str, rd: Value) -> Value {
    json!({
        "name": name,
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": rd,
    })
}

#[test]
fn denied_and_unlisted_names_are_refused_argument_rules_are_not() {
    let g = governor(json!([
        block("allowlist", json!({ "allow": ["echo", "add", "write_*"] })),
        block("no-writes-to-etc", json!({ "deny": ["write_secrets"] })),
        block(
            "paths",
            json!({ "arguments": [{ "tools": ["write_file"], "argument": "path", "kind": "path", "allow": ["/tmp/**"] }] })
        ),
    ]));
    let h = g.register_agent("lister", None, None, true).unwrap();
    let refused = g
        .refused_by_name(
            h,
            &names(&["echo", "printEnv", "write_file", "write_secrets", "add", ""]),
        )
        .unwrap();
    assert_eq!(refused, [false, true, false, true, false, true]);
    assert_eq!(g.stats().tools_hidden, 3);
}

#[test]
fn warnings_and_monitoring_agents_hide_nothing() {
    let g = governor(json!([
        block("deny-env", json!({ "deny": ["printEnv"] })),
        {
            "name": "warn-echo",
            "policyType": "tool_invocation",
            "enforcementMode": "warn",
            "ruleDefinition": { "deny": ["echo"] }
        }
    ]));
    let enforced = g.register_agent("enforced", None, None, true).unwrap();
    let monitored = g.register_agent("monitored", None, None, false).unwrap();
    let list = names(&["printEnv", "echo"]);
    assert_eq!(g.refused_by_name(enforced, &list).unwrap(), [true, false]);
    assert_eq!(g.refused_by_name(monitored, &list).unwrap(), [false, false]);
    assert_eq!(g.stats().tools_hidden, 1);
}

#[test]
fn scoped_policies_hide_only_for_their_agents() {
    let mut p = block("ops-only", json!({ "deny": ["printEnv"] }));
    p["appliesToAgents"] = json!(["ops-agent"]);
    let g = governor(json!([p]));
    let ops = g.register_agent("ops-agent", None, None, true).unwrap();
    let other = g.register_agent("other-agent", None, None, true).unwrap();
    let list = names(&["printEnv"]);
    assert_eq!(g.refused_by_name(ops, &list).unwrap(), [true]);
    assert_eq!(g.refused_by_name(other, &list).unwrap(), [false]);
}

#[test]
fn an_unknown_handle_is_an_error() {
    let g = governor(json!([]));
    assert!(g.refused_by_name(999, &names(&["echo"])).is_err());
}
