//! Evaluation of policy sets through the public API: tool names, argument
//! rules, scopes, modes, server-decided policies, order independence, and
//! what a decision may contain.

use execlave_core::agent::AgentIdentity;
use execlave_core::decision::Decision;
use execlave_core::policy::{load_path, ControlPlane, PolicySet, SourcedPolicy};
use serde_json::{json, Value};
use std::sync::Arc;

fn sourced(values: &[Value]) -> Vec<SourcedPolicy> {
    SourcedPolicy::from_values(values.iter().cloned())
}

/// Local policies beside a control plane, so that server-side types are
/// kept (without one they are errors: `tests/policy_types.rs`).
fn set(values: &[Value]) -> PolicySet {
    PolicySet::compile_strict_with(&sourced(values), ControlPlane::Present).expect("valid policies")
}

fn agent(external: &str) -> AgentIdentity {
    AgentIdentity::new(external)
}

fn agent2(external: &str, internal: &str) -> AgentIdentity {
    AgentIdentity {
        external: external.into(),
        internal: Some(internal.into()),
    }
}

/// A tool_invocation policy in block mode with this ruleDefinition.
fn tp(name: &str, rd: Value) -> Value {
    json!({
        "id": format!("pol_{name}"),
        "name": name,
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": rd,
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// Evaluates with and without the plan cache (twice with it) and checks
/// they agree.
fn eval(s: &PolicySet, a: &AgentIdentity, tool: &str, args: Option<&str>) -> Decision {
    // A fresh clone shares the compiled policies, not the plan cache: it
    // builds the plan from scratch, the reference the cache must agree with.
    let reference = s.clone().evaluate(a, tool, args);
    let first = s.evaluate(a, tool, args);
    let second = s.evaluate(a, tool, args);
    assert_eq!(first, reference, "cached plan differs from uncached");
    assert_eq!(second, reference, "second cached evaluation differs");
    // What the tool name alone decides, whatever the arguments, must be
    // the full decision.
    if let Some(by_tool) = s.evaluate_tool(a, tool) {
        assert_eq!(
            by_tool, reference,
            "decision on the tool name alone differs"
        );
    }
    reference
}

fn rules(d: &Decision) -> Vec<(String, String)> {
    d.violations
        .iter()
        .map(|v| (v.policy_name.clone(), v.rule.clone().unwrap_or_default()))
        .collect()
}

/// The policy format's own example (`core/tests/data/documented_example.json`,
/// shared with the core's unit tests).
fn example() -> Value {
    serde_json::from_str(include_str!("data/documented_example.json")).unwrap()
}

#[test]
fn is_send_sync_clone_default() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicySet>();
    let s = set(&[example()]);
    let c = s.clone();
    assert_eq!(c.len(), 1);
    assert_eq!(
        c.evaluate(&agent("ops-agent"), "write_file", None),
        s.evaluate(&agent("ops-agent"), "write_file", None)
    );
    assert!(PolicySet::default().is_empty());
    assert!(format!("{s:?}").contains("pol_fs_guard"));
}

#[test]
fn the_tool_name_alone_decides_unless_an_argument_rule_applies() {
    let s = set(&[example()]);
    let ops = agent("ops-agent");
    // Argument rules apply: the arguments are needed.
    for tool in ["read_text_file", "list_directory", "query", "refund"] {
        assert_eq!(s.evaluate_tool(&ops, tool), None, "{tool}");
    }
    // Denied, off the allowlist: decided on the name.
    assert!(s.evaluate_tool(&ops, "write_file").unwrap().is_blocked());
    assert!(s.evaluate_tool(&ops, "delete_file").unwrap().is_blocked());
    // The policy is scoped to ops-agent: another agent is not concerned.
    assert!(s
        .evaluate_tool(&agent("other"), "read_text_file")
        .unwrap()
        .is_clean());
    assert!(PolicySet::empty()
        .evaluate_tool(&ops, "x")
        .unwrap()
        .is_clean());
}

#[test]
fn empty_set_allows_everything() {
    let s = PolicySet::empty();
    assert!(s.is_empty());
    assert_eq!(s.len(), 0);
    assert_eq!(s.local_len(), 0);
    let d = eval(&s, &agent("a"), "anything", Some("not json"));
    assert!(d.is_clean());
}

#[test]
fn the_documented_example() {
    let s = set(&[example()]);
    let ops = agent("ops-agent");
    let d = eval(&s, &ops, "write_file", None);
    assert!(d.is_blocked());
    let v = &d.violations[0];
    assert_eq!(v.policy_id, "pol_fs_guard");
    assert_eq!(v.policy_name, "Filesystem guard");
    assert_eq!(v.policy_type, "tool_invocation");
    assert_eq!(v.enforcement_mode, "block");
    assert_eq!(v.severity.as_deref(), Some("high"));
    assert_eq!(
        v.message,
        "tool \"write_file\" is denied by policy \"Filesystem guard\""
    );
    assert_eq!(v.tool.as_deref(), Some("write_file"));
    assert_eq!(v.rule.as_deref(), Some("deny"));
    assert_eq!(v.argument, None);
    assert!(v.extra.is_empty());
    let wire = serde_json::to_value(v).unwrap();
    assert_eq!(wire["policyId"], "pol_fs_guard");
    assert_eq!(wire["rule"], "deny");

    let d = eval(&s, &ops, "delete_file", None);
    assert_eq!(
        rules(&d),
        [("Filesystem guard".into(), "not_allowed".into())]
    );
    assert_eq!(
        d.violations[0].message,
        "tool \"delete_file\" is not on the allowlist of policy \"Filesystem guard\""
    );

    assert!(eval(
        &s,
        &ops,
        "read_text_file",
        Some(r#"{"path": "/srv/data/a.txt"}"#)
    )
    .is_clean());
    let d = eval(
        &s,
        &ops,
        "read_text_file",
        Some(r#"{"path": "/srv/data/../../etc/passwd"}"#),
    );
    assert_eq!(d.violations.len(), 1);
    let v = &d.violations[0];
    assert_eq!(v.rule.as_deref(), Some("argument"));
    assert_eq!(v.argument.as_deref(), Some("path"));
    assert_eq!(
        v.message,
        "argument \"path\" of tool \"read_text_file\" matches a denied pattern of policy \"Filesystem guard\""
    );
    let d = eval(
        &s,
        &ops,
        "list_directory",
        Some(r#"{"path": "/home/u/.ssh"}"#),
    );
    assert!(d.violations[0].message.contains("denied pattern"));
    let d = eval(&s, &ops, "list_directory", Some(r#"{"path": "/tmp"}"#));
    assert!(d.violations[0]
        .message
        .contains("matches no allowed pattern"));
    let d = eval(&s, &ops, "list_directory", Some(r#"{"path": "tmp"}"#));
    assert!(
        d.is_blocked(),
        "relative path against absolute allowlist fails closed"
    );

    assert!(eval(
        &s,
        &ops,
        "read_multiple_files",
        Some(r#"{"paths": ["/srv/data/a", "/srv/data/b"]}"#)
    )
    .is_clean());
    assert!(eval(&s, &ops, "read_multiple_files", Some(r#"{"paths": []}"#)).is_clean());
    let d = eval(
        &s,
        &ops,
        "read_multiple_files",
        Some(r#"{"paths": ["/srv/data/a", "/etc/x", "/root/y"]}"#),
    );
    assert_eq!(
        d.violations.len(),
        1,
        "one violation per rule, not per element"
    );
    assert!(d.violations[0]
        .message
        .starts_with("element 1 of argument \"paths\""));

    assert!(eval(&s, &ops, "query", Some(r#"{"sql": "  SELECT 1"}"#)).is_clean());
    assert!(eval(&s, &ops, "query", Some(r#"{"sql": "delete from t"}"#)).is_blocked());

    assert!(eval(&s, &ops, "refund", Some(r#"{"order": {"amount": 100}}"#)).is_clean());
    let d = eval(&s, &ops, "refund", Some(r#"{"order": {"amount": 100.5}}"#));
    assert_eq!(
        d.violations[0].message,
        "argument \"/order/amount\" of tool \"refund\" is above the maximum 100 of policy \"Filesystem guard\""
    );
    let d = eval(&s, &ops, "refund", Some(r#"{"order": {}}"#));
    assert!(d.violations[0].message.contains("is missing (required"));
    let d = eval(&s, &ops, "refund", None);
    assert!(d.violations[0].message.contains("is missing (required"));
    let d = eval(&s, &ops, "refund", Some(r#"{"order": {"amount": "5"}}"#));
    assert!(d.violations[0].message.contains("is not a number"));

    // Another agent: out of scope.
    assert!(eval(&s, &agent("web-agent"), "write_file", None).is_clean());
}

#[test]
fn allow_deny_default_action_combinations() {
    let a = agent("a");
    // No lists: everything allowed.
    let s = set(&[tp("P", json!({}))]);
    assert!(eval(&s, &a, "anything", None).is_clean());
    // Deny only: default allow.
    let s = set(&[tp("P", json!({"deny": ["rm"]}))]);
    assert!(eval(&s, &a, "ls", None).is_clean());
    assert_eq!(
        rules(&eval(&s, &a, "rm", None)),
        [("P".into(), "deny".into())]
    );
    // Allow only: default deny.
    let s = set(&[tp("P", json!({"allow": ["ls"]}))]);
    assert!(eval(&s, &a, "ls", None).is_clean());
    assert_eq!(
        rules(&eval(&s, &a, "rm", None)),
        [("P".into(), "not_allowed".into())]
    );
    // Allow with explicit default allow: allowlist adds nothing.
    let s = set(&[tp("P", json!({"allow": ["ls"], "defaultAction": "allow"}))]);
    assert!(eval(&s, &a, "rm", None).is_clean());
    // Empty allow with default deny: nothing is allowed.
    let s = set(&[tp("P", json!({"allow": [], "defaultAction": "deny"}))]);
    assert_eq!(
        rules(&eval(&s, &a, "ls", None)),
        [("P".into(), "not_allowed".into())]
    );
    // Deny wins over allow.
    let s = set(&[tp("P", json!({"allow": ["*"], "deny": ["rm"]}))]);
    assert_eq!(
        rules(&eval(&s, &a, "rm", None)),
        [("P".into(), "deny".into())]
    );
    assert!(eval(&s, &a, "ls", None).is_clean());
    // `*` alone denies every tool.
    let s = set(&[tp("P", json!({"deny": ["*"]}))]);
    for t in ["a", "", "write_file"] {
        assert!(eval(&s, &a, t, None).is_blocked());
    }
    // `?` and case sensitivity.
    let s = set(&[tp("P", json!({"allow": ["tool?"]}))]);
    assert!(eval(&s, &a, "tool1", None).is_clean());
    assert!(eval(&s, &a, "tool12", None).is_blocked());
    assert!(eval(&s, &a, "Tool1", None).is_blocked());
    let s = set(&[tp("P", json!({"deny": ["Write_File"]}))]);
    assert!(eval(&s, &a, "write_file", None).is_clean());
    assert!(eval(&s, &a, "Write_File", None).is_blocked());
}

#[test]
fn argument_rules_only_when_tool_allowed() {
    let a = agent("a");
    let s = set(&[tp(
        "P",
        json!({"deny": ["rm"], "arguments": [
            {"tools": ["*"], "argument": "path", "kind": "path", "deny": ["/etc/**"]}
        ]}),
    )]);
    let d = eval(&s, &a, "rm", Some(r#"{"path": "/etc/x"}"#));
    assert_eq!(rules(&d), [("P".into(), "deny".into())]);
    let d = eval(&s, &a, "cat", Some(r#"{"path": "/etc/x"}"#));
    assert_eq!(rules(&d), [("P".into(), "argument".into())]);
    // Rule not applying to the tool.
    let s = set(&[tp(
        "P",
        json!({"arguments": [
            {"tools": ["cat"], "argument": "path", "kind": "path", "deny": ["/etc/**"]}
        ]}),
    )]);
    assert!(eval(&s, &a, "ls", Some(r#"{"path": "/etc/x"}"#)).is_clean());
    assert!(eval(&s, &a, "cat", Some(r#"{"path": "/etc/x"}"#)).is_blocked());
}

#[test]
fn several_failing_rules_in_rule_order() {
    let a = agent("a");
    let s = set(&[tp(
        "P",
        json!({"arguments": [
            {"tools": ["t"], "argument": "n", "kind": "number", "max": 1},
            {"tools": ["t"], "argument": "p", "kind": "path", "deny": ["/x"]},
            {"tools": ["other"], "argument": "n", "kind": "number", "max": 0},
            {"tools": ["t*"], "argument": "g", "kind": "glob", "allow": ["ok"], "required": true}
        ]}),
    )]);
    let d = eval(&s, &a, "t", Some(r#"{"n": 2, "p": "/x"}"#));
    let args: Vec<_> = d
        .violations
        .iter()
        .map(|v| v.argument.clone().unwrap())
        .collect();
    assert_eq!(args, ["n", "p", "g"]);
    let d = eval(&s, &a, "t", Some(r#"{"n": 1, "p": "/y", "g": "ok"}"#));
    assert!(d.is_clean());
}

#[test]
fn scope_applies_to_agents_agent_id_and_internal_id() {
    let deny_all = json!({"deny": ["*"]});
    let ops = agent("ops-agent");
    let ops_internal = agent2("ops-agent", "agt_1");
    let web = agent("web-agent");

    // appliesToAgents missing or empty: every agent.
    for applies in [None, Some(json!([]))] {
        let mut p = tp("P", deny_all.clone());
        if let Some(applies) = applies {
            p["appliesToAgents"] = applies;
        }
        let s = set(&[p]);
        assert!(eval(&s, &ops, "x", None).is_blocked());
        assert!(eval(&s, &web, "x", None).is_blocked());
    }
    // By external id.
    let s = set(&[with(
        tp("P", deny_all.clone()),
        "appliesToAgents",
        json!(["ops-agent"]),
    )]);
    assert!(eval(&s, &ops, "x", None).is_blocked());
    assert!(eval(&s, &web, "x", None).is_clean());
    // By internal id.
    let s = set(&[with(
        tp("P", deny_all.clone()),
        "appliesToAgents",
        json!(["agt_1"]),
    )]);
    assert!(eval(&s, &ops_internal, "x", None).is_blocked());
    assert!(eval(&s, &ops, "x", None).is_clean(), "no internal id known");
    assert!(eval(&s, &agent2("web-agent", "agt_2"), "x", None).is_clean());
    // ruleDefinition.agentId, external or internal.
    let s = set(&[tp("P", json!({"deny": ["*"], "agentId": "ops-agent"}))]);
    assert!(eval(&s, &ops, "x", None).is_blocked());
    assert!(eval(&s, &web, "x", None).is_clean());
    let s = set(&[tp("P", json!({"deny": ["*"], "agentId": "agt_1"}))]);
    assert!(eval(&s, &ops_internal, "x", None).is_blocked());
    assert!(eval(&s, &ops, "x", None).is_clean());
    // Both must admit the agent.
    let s = set(&[with(
        tp("P", json!({"deny": ["*"], "agentId": "web-agent"})),
        "appliesToAgents",
        json!(["ops-agent", "web-agent"]),
    )]);
    assert!(eval(&s, &web, "x", None).is_blocked());
    assert!(eval(&s, &ops, "x", None).is_clean());
    let s = set(&[with(
        tp("P", json!({"deny": ["*"], "agentId": "agt_1"})),
        "appliesToAgents",
        json!(["ops-agent"]),
    )]);
    assert!(eval(&s, &ops_internal, "x", None).is_blocked());
}

#[test]
fn different_agents_do_not_share_a_plan() {
    let s = set(&[with(
        tp("P", json!({"deny": ["x"]})),
        "appliesToAgents",
        json!(["agt_1"]),
    )]);
    // Same external id, different internal ids, then none.
    let a1 = agent2("ops-agent", "agt_1");
    let a2 = agent2("ops-agent", "agt_2");
    let a0 = agent("ops-agent");
    for _ in 0..2 {
        assert!(s.evaluate(&a1, "x", None).is_blocked());
        assert!(s.evaluate(&a2, "x", None).is_clean());
        assert!(s.evaluate(&a0, "x", None).is_clean());
        assert!(s.evaluate(&agent("agt_1"), "x", None).is_blocked());
    }
}

#[test]
fn enforcement_modes() {
    let a = agent("a");
    for mode in ["block", "hard_block"] {
        let s = set(&[with(
            tp("P", json!({"deny": ["x"]})),
            "enforcementMode",
            json!(mode),
        )]);
        let d = eval(&s, &a, "x", None);
        assert_eq!(d.violations.len(), 1, "{mode}");
        assert!(d.warnings.is_empty());
        assert!(!d.needs_server);
        assert_eq!(d.violations[0].enforcement_mode, mode);
        assert_eq!(s.local_len(), 1);
    }
    for mode in ["warn", "log_only", "monitor"] {
        let s = set(&[with(
            tp("P", json!({"deny": ["x"]})),
            "enforcementMode",
            json!(mode),
        )]);
        let d = eval(&s, &a, "x", None);
        assert!(!d.is_blocked(), "{mode}");
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].enforcement_mode, mode);
        assert!(!d.needs_server);
        assert_eq!(s.local_len(), 1);
    }
    // require_approval from the control plane: not evaluated locally,
    // needs the server.
    let approval = with(
        tp("P", json!({"deny": ["x"]})),
        "enforcementMode",
        json!("require_approval"),
    );
    let (s, errors) = PolicySet::compile_lenient(&sourced(std::slice::from_ref(&approval)));
    assert!(errors.is_empty());
    assert_eq!(s.local_len(), 0);
    assert_eq!(s.len(), 1);
    let d = eval(&s, &a, "x", None);
    assert!(d.violations.is_empty() && d.warnings.is_empty() && d.approvals.is_empty());
    assert!(d.needs_server);
    assert!(s.needs_server(&a));
    // A local one (file or inline) is evaluated here: what it would block
    // needs the client's approver (rule approval_required); the rest passes.
    let s = set(&[approval]);
    assert_eq!(s.local_len(), 1);
    assert!(!s.needs_server(&a));
    let d = eval(&s, &a, "x", None);
    assert!(d.violations.is_empty() && d.warnings.is_empty() && !d.needs_server);
    assert_eq!(d.approvals.len(), 1);
    assert_eq!(d.approvals[0].rule.as_deref(), Some("approval_required"));
    assert_eq!(d.approvals[0].enforcement_mode, "require_approval");
    assert!(!d.is_clean());
    assert!(eval(&s, &a, "y", None).is_clean());
    // Mixed: one blocking, one warning.
    let s = set(&[
        tp("B", json!({"deny": ["x"]})),
        with(
            tp("W", json!({"deny": ["x"]})),
            "enforcementMode",
            json!("warn"),
        ),
    ]);
    let d = eval(&s, &a, "x", None);
    assert_eq!(d.violations.len(), 1);
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(d.violations[0].policy_name, "B");
    assert_eq!(d.warnings[0].policy_name, "W");
    // Argument violations follow the mode too.
    let s = set(&[with(
        tp(
            "W",
            json!({"arguments": [{"tools": ["*"], "argument": "n", "kind": "number", "max": 0}]}),
        ),
        "enforcementMode",
        json!("monitor"),
    )]);
    let d = eval(&s, &a, "t", Some(r#"{"n": 1}"#));
    assert_eq!(d.warnings.len(), 1);
    assert!(!d.is_blocked());
}

#[test]
fn other_policy_types_need_the_server() {
    let ops = agent("ops-agent");
    let web = agent("web-agent");
    let other = json!({
        "id": "pol_pii", "name": "PII", "policyType": "data_access",
        "enforcementMode": "block", "appliesToAgents": ["ops-agent"],
        "ruleDefinition": {"deny": ["*"]}
    });
    let s = set(std::slice::from_ref(&other));
    assert_eq!(s.len(), 1);
    assert_eq!(s.local_len(), 0);
    assert!(s.needs_server(&ops));
    assert!(!s.needs_server(&web));
    let d = eval(&s, &ops, "anything", None);
    assert!(!d.is_blocked(), "other types are never evaluated locally");
    assert!(d.needs_server);
    assert!(eval(&s, &web, "anything", None).is_clean());
    // Inactive: ignored.
    let s = set(&[with(other, "isActive", json!(false))]);
    assert!(!s.needs_server(&ops));
    assert_eq!(s.len(), 1);
    // Combined with a local policy.
    let s = set(&[
        json!({"name": "Global", "policyType": "rate_limit", "enforcementMode": "warn"}),
        tp("P", json!({"deny": ["x"]})),
    ]);
    let d = eval(&s, &web, "x", None);
    assert!(d.is_blocked() && d.needs_server);
    let d = eval(&s, &web, "y", None);
    assert!(!d.is_blocked() && d.needs_server && !d.is_clean());
}

#[test]
fn inactive_policies_are_ignored() {
    let s = set(&[with(
        tp("P", json!({"deny": ["*"]})),
        "isActive",
        json!(false),
    )]);
    assert_eq!(s.len(), 1);
    assert_eq!(s.local_len(), 0);
    assert!(eval(&s, &agent("a"), "x", None).is_clean());
    let s = PolicySet::compile_lenient(&sourced(&[with(
        with(tp("P", json!({"deny": ["*"]})), "isActive", json!(false)),
        "enforcementMode",
        json!("require_approval"),
    )]))
    .0;
    assert!(!s.needs_server(&agent("a")));
}

#[test]
fn order_independence() {
    let policies = vec![
        example(),
        tp("A", json!({"deny": ["write_file", "rm"]})),
        with(
            tp("B", json!({"allow": ["read_*"]})),
            "enforcementMode",
            json!("warn"),
        ),
        tp(
            "C",
            json!({"arguments": [
                {"tools": ["read_*"], "argument": "path", "kind": "path", "deny": ["/etc/**"]},
                {"tools": ["*"], "argument": "n", "kind": "number", "max": 1}
            ]}),
        ),
        // Same id and name as C, different content.
        tp("C", json!({"deny": ["read_secret"]})),
        with(
            tp("D", json!({"deny": ["*"]})),
            "enforcementMode",
            json!("log_only"),
        ),
        json!({"name": "Srv", "policyType": "content", "enforcementMode": "block"}),
        with(tp("E", json!({"deny": ["*"]})), "isActive", json!(false)),
    ];
    let calls: Vec<(&str, Option<&str>)> = vec![
        ("write_file", None),
        ("read_text_file", Some(r#"{"path": "/etc/passwd", "n": 5}"#)),
        ("read_secret", Some(r#"{"path": "/srv/data/x"}"#)),
        ("rm", Some("not json")),
        ("ls", None),
    ];
    let agents = [agent("ops-agent"), agent("web-agent")];
    let reference = set(&policies);
    // Rotations and a reversal.
    let mut permutations = Vec::new();
    for k in 0..policies.len() {
        let mut p = policies.clone();
        p.rotate_left(k);
        permutations.push(p.clone());
        p.reverse();
        permutations.push(p);
    }
    for permuted in permutations {
        let s = set(&permuted);
        for a in &agents {
            for (tool, args) in &calls {
                assert_eq!(
                    eval(&s, a, tool, *args),
                    eval(&reference, a, tool, *args),
                    "{tool} for {}",
                    a.external
                );
            }
        }
    }
    let d = eval(
        &reference,
        &agents[0],
        "read_text_file",
        Some(r#"{"path": "/etc/passwd", "n": 5}"#),
    );
    assert!(d.violations.len() >= 3, "{d:?}");
}

#[test]
fn values_never_appear_in_decisions() {
    let secret = "sk-live-SECRET-4242";
    let s = set(&[tp(
        "P",
        json!({"arguments": [
            {"tools": ["*"], "argument": "path", "kind": "path", "allow": ["/srv/**"]},
            {"tools": ["*"], "argument": "g", "kind": "glob", "deny": ["*SECRET*"]},
            {"tools": ["*"], "argument": "r", "kind": "regex", "allow": ["^ok$"]},
            {"tools": ["*"], "argument": "n", "kind": "number", "max": 1},
            {"tools": ["*"], "argument": "/deep/k", "kind": "path", "deny": ["**"]}
        ]}),
    )]);
    let args = [
        json!({"path": format!("/tmp/{secret}"), "g": secret, "r": secret, "n": secret,
               "deep": {"k": secret}})
        .to_string(),
        json!({"path": [format!("/srv/{secret}"), secret], "g": [secret], "r": {"k": secret}})
            .to_string(),
        format!("{{\"path\": \"{secret}"),
        format!("{{\"path\": {secret}}}"),
        format!("{{\"{secret}\": 1,}}"),
        format!("{}\"{secret}\"{}", "[".repeat(300), "]".repeat(300)),
    ];
    for text in &args {
        let d = eval(&s, &agent("a"), "tool", Some(text));
        assert!(d.is_blocked(), "{text}");
        let debug = format!("{d:?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(!debug.contains("SECRET"), "{debug}");
    }
}

#[test]
fn unreadable_arguments_fail_closed_only_when_rules_apply() {
    let a = agent("a");
    let s = set(&[
        tp(
            "P",
            json!({"deny": ["rm"], "arguments": [
                {"tools": ["cat"], "argument": "path", "kind": "path", "deny": ["/etc/**"]},
                {"tools": ["c*"], "argument": "n", "kind": "number"}
            ]}),
        ),
        with(
            tp(
                "W",
                json!({"arguments": [{"tools": ["cat"], "argument": "x", "kind": "glob"}]}),
            ),
            "enforcementMode",
            json!("warn"),
        ),
    ]);
    let deep = format!("{{\"path\": {}1{}}}", "[".repeat(1000), "]".repeat(1000));
    for bad in ["{", "not json", "", "{\"path\": \"/srv\",}", deep.as_str()] {
        let d = eval(&s, &a, "cat", Some(bad));
        assert_eq!(d.violations.len(), 2, "{bad:?}: {d:?}");
        assert_eq!(d.warnings.len(), 1);
        for v in d.violations.iter().chain(&d.warnings) {
            assert_eq!(v.rule.as_deref(), Some("argument"));
            assert!(
                v.message
                    .starts_with("arguments of tool \"cat\" could not be read ("),
                "{}",
                v.message
            );
        }
        // No rule applies: the text is never looked at.
        assert!(eval(&s, &a, "ls", Some(bad)).is_clean());
        assert_eq!(
            rules(&eval(&s, &a, "rm", Some(bad))),
            [("P".into(), "deny".into())]
        );
    }
    let d = eval(&s, &a, "cat", Some(&deep));
    assert!(
        d.violations[0].message.contains("nested too deeply"),
        "{}",
        d.violations[0].message
    );
    // Valid but not an object: lookups find nothing, not required: passes.
    assert!(eval(&s, &a, "cat", Some("[1, 2]")).is_clean());
    assert!(eval(&s, &a, "cat", Some("null")).is_clean());
    assert!(eval(&s, &a, "cat", None).is_clean());
}

#[test]
fn null_argument_values_are_present() {
    let a = agent("a");
    let s = set(&[tp(
        "P",
        json!({"arguments": [
            {"tools": ["path"], "argument": "v", "kind": "path"},
            {"tools": ["num"], "argument": "v", "kind": "number"},
            {"tools": ["re"], "argument": "v", "kind": "regex", "allow": ["^null$"]},
            {"tools": ["req"], "argument": "v", "kind": "glob", "required": true}
        ]}),
    )]);
    let null = Some(r#"{"v": null}"#);
    assert!(eval(&s, &a, "path", null).violations[0]
        .message
        .contains("must be a string"));
    assert!(eval(&s, &a, "num", null).violations[0]
        .message
        .contains("is not a number"));
    assert!(eval(&s, &a, "re", null).is_clean());
    assert!(eval(&s, &a, "req", null).is_clean());
    assert!(eval(&s, &a, "req", Some("{}")).is_blocked());
}

#[test]
fn evaluate_is_thread_safe() {
    let s = Arc::new(set(&[example()]));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let a = agent(if i % 2 == 0 { "ops-agent" } else { "web-agent" });
                for _ in 0..200 {
                    let d = s.evaluate(&a, "write_file", None);
                    assert_eq!(d.is_blocked(), i % 2 == 0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn strict_and_lenient_compilation() {
    let good = tp("Good", json!({"deny": ["x"]}));
    let bad_mode = with(tp("Bad", json!({})), "enforcementMode", json!("nope"));
    let bad_kind = tp(
        "Kind",
        json!({"arguments": [{"tools": ["*"], "argument": "a", "kind": "paht"}]}),
    );
    let all = sourced(&[
        good.clone(),
        bad_mode,
        json!({"policyType": "x"}),
        bad_kind,
        good,
    ]);
    let e = PolicySet::compile_strict(&all).unwrap_err();
    assert_eq!(e.policy().as_deref(), Some("Bad"));
    assert_eq!(e.field(), Some("enforcementMode"));

    let (s, errors) = PolicySet::compile_lenient(&all);
    assert_eq!(s.local_len(), 2, "the valid policies apply");
    assert_eq!(s.len(), 5, "the three invalid ones are left to the server");
    assert!(s.needs_server(&agent("a")));
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[0].policy().as_deref(), Some("Bad"));
    assert_eq!(errors[1].policy().as_deref(), Some("#2"));
    assert_eq!(errors[1].field(), Some("name"));
    assert_eq!(errors[2].field(), Some("ruleDefinition.arguments[0].kind"));
    assert!(eval(&s, &agent("a"), "x", None).is_blocked());
    let (s, errors) = PolicySet::compile_lenient(&[]);
    assert!(s.is_empty() && errors.is_empty());
}

#[test]
fn an_unreadable_control_plane_policy_sends_its_agents_calls_to_the_server() {
    // Valid for the server, not for this SDK: a mode it does not know.
    let newer = |name: &str| {
        with(
            tp(name, json!({"deny": ["drop_*"]})),
            "enforcementMode",
            json!("quarantine"),
        )
    };
    let scoped = with(newer("Scoped"), "appliesToAgents", json!(["ops-agent"]));
    let (s, errors) = PolicySet::compile_lenient(&sourced(&[scoped]));
    assert_eq!(errors.len(), 1);
    assert!(s.needs_server(&agent("ops-agent")));
    assert!(!s.needs_server(&agent("web-agent")), "scope still read");
    let d = eval(&s, &agent("ops-agent"), "drop_table", None);
    assert!(d.needs_server && !d.is_blocked(), "{d:?}");

    // A scope that cannot be read either: every agent, to be safe.
    let unscoped = with(newer("Unscoped"), "appliesToAgents", json!("ops-agent"));
    let (s, _) = PolicySet::compile_lenient(&sourced(&[unscoped]));
    assert!(s.needs_server(&agent("web-agent")));

    // Switched off: it applies to nobody.
    let off = with(newer("Off"), "isActive", json!(false));
    let (s, errors) = PolicySet::compile_lenient(&sourced(&[off]));
    assert_eq!(errors.len(), 1);
    assert!(!s.needs_server(&agent("ops-agent")));
}

#[test]
fn from_files_and_inline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fs.yaml"),
        "name: Filesystem guard\npolicyType: tool_invocation\nenforcementMode: block\n\
         ruleDefinition:\n  arguments:\n    - tools: [read_file]\n      argument: path\n      kind: paht\n",
    )
    .unwrap();
    let e = PolicySet::compile_strict(&load_path(dir.path()).unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: policy \"Filesystem guard\": ruleDefinition.arguments[0].kind: unknown kind \"paht\" (expected path, glob, regex or number)",
            dir.path().join("fs.yaml").display()
        )
    );
    let s = PolicySet::compile_strict(&SourcedPolicy::from_values([
        json!({"name": "N", "policyType": "tool_invocation",
            "enforcementMode": "block", "ruleDefinition": {"deny": ["x"]}}),
    ]))
    .unwrap();
    let d = eval(&s, &agent("a"), "x", None);
    assert_eq!(d.violations[0].policy_id, "local:N");
}
