//! The call lifecycle through the governor, in local mode with an audit
//! log: decide (in full or by tool name) → complete, record order between
//! completions and refusals, and call durations on the core's clock.

use execlave_core::{AgentHandle, Completion, Ending, Governor, Outcome, Ticket, Undecided};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// A governor that allows `echo`, blocks `delete_*` and writes records
/// to an audit log in `dir`.
fn governor(dir: &Path) -> Governor {
    let options = json!({
        "policies": [{
            "name": "G",
            "policyType": "tool_invocation",
            "enforcementMode": "block",
            "ruleDefinition": { "allow": ["echo"], "deny": ["delete_*"] }
        }],
        "auditLog": dir.join("audit.jsonl"),
        "flushIntervalMs": 60_000
    });
    Governor::new(serde_json::from_value(options).unwrap()).unwrap()
}

fn allow(g: &Governor, handle: AgentHandle, args: &str) -> Ticket {
    let outcome = g
        .decide(handle, "echo".into(), Some(args.into()), true, false)
        .unwrap();
    outcome
        .clean_ticket()
        .expect("an allowed call with a ticket")
}

fn audit_log(g: &Governor, dir: &Path) -> Vec<Value> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(g.flush());
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A call that answered `output`, `ended_ms` after now (None: at its
/// completion).
fn answered(output: &str, ended_ms: Option<f64>) -> Completion {
    Completion {
        ended_at: ended_ms.map(in_ms),
        output: Some(output.into()),
        ..Default::default()
    }
}

fn in_ms(ms: f64) -> Instant {
    let d = Duration::from_secs_f64(ms.abs() / 1000.0);
    if ms >= 0.0 {
        Instant::now() + d
    } else {
        Instant::now() - d
    }
}

fn about(ms: &Value, expected: f64) -> bool {
    let ms = ms.as_f64().unwrap();
    (expected..expected + 1000.0).contains(&ms)
}

#[test]
fn completions_in_a_batch_are_recorded_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let (a, b) = (allow(&g, h, r#"{"n":1}"#), allow(&g, h, r#"{"n":2}"#));
    g.complete_many([
        (b, answered(r#""b""#, Some(12.5))),
        (0, answered("ignored: ticket 0", None)),
        (
            a,
            Completion {
                ended_at: Some(in_ms(3.25)),
                ending: Ending::Threw {
                    message: Some("boom".into()),
                    error_type: Some("TypeError".into()),
                },
                ..Default::default()
            },
        ),
        (b, answered("ignored: b completed already", None)),
    ]);
    g.complete(a, answered("ignored: a completed already", None));
    let recs = audit_log(&g, dir.path());
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0]["input"], r#"{"n":2}"#);
    assert_eq!(recs[0]["output"], r#""b""#);
    assert_eq!(recs[0]["status"], "success");
    assert!(
        about(&recs[0]["durationMs"], 12.5),
        "the host's end is kept"
    );
    assert_eq!(recs[1]["input"], r#"{"n":1}"#);
    assert_eq!(recs[1]["status"], "error");
    assert_eq!(recs[1]["errorMessage"], "boom");
    assert_eq!(recs[1]["errorType"], "TypeError");
    assert!(about(&recs[1]["durationMs"], 3.25));
    assert_eq!(g.stats().records_written, 2);
}

#[test]
fn refusals_and_completions_keep_the_order_they_were_reported_in() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let a = allow(&g, h, "{}");
    g.complete(a, answered("1", None));
    let blocked = g.decide(h, "delete_all".into(), None, true, false).unwrap();
    assert!(matches!(blocked, Outcome::Block { .. }));
    let recs = audit_log(&g, dir.path());
    let statuses: Vec<&str> = recs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["success", "policy_blocked"]);
}

#[test]
fn a_refusal_waits_for_the_completions_the_host_still_owes() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let a = allow(&g, h, "{}");
    // `a` ended, but its completion is still queued on the host's side.
    let blocked = g.decide(h, "delete_all".into(), None, true, true).unwrap();
    assert!(matches!(blocked, Outcome::Block { .. }));
    g.complete_many([(a, answered("1", Some(1.0)))]);
    let statuses: Vec<String> = audit_log(&g, dir.path())
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["success", "policy_blocked"]);

    // A host that never hands the completions over loses nothing: a
    // flush writes the held refusal.
    let b = g.decide(h, "delete_all".into(), None, true, true).unwrap();
    assert!(matches!(b, Outcome::Block { .. }));
    assert_eq!(audit_log(&g, dir.path()).len(), 3);
}

#[test]
fn the_tool_name_decides_only_clean_allows_and_the_input_comes_later() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let ticket = g.decide_by_tool(h, "echo").expect("echo is allowed");
    let other = Err(Undecided::Other);
    assert_ne!(ticket, 0, "an audit log is set: the call is tracked");
    // Refusals and the unknown go to the full path, counting nothing.
    assert_eq!(g.decide_by_tool(h, "delete_all"), other);
    assert_eq!(g.decide_by_tool(h, "not_listed"), other);
    assert_eq!(g.decide_by_tool(h + 1, "echo"), other);
    let stats = g.stats();
    assert_eq!((stats.decisions, stats.allowed, stats.blocked), (1, 1, 0));

    g.complete(
        ticket,
        Completion {
            input: Some(r#"{"text":"hi"}"#.into()),
            ..answered("1", None)
        },
    );
    let recs = audit_log(&g, dir.path());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["input"], r#"{"text":"hi"}"#);
    assert_eq!(recs[0]["status"], "success");

    // An input the decision had wins over the completion's.
    let t = allow(&g, h, r#"{"n":1}"#);
    g.complete(
        t,
        Completion {
            input: Some("ignored".into()),
            ..answered("2", None)
        },
    );
    assert_eq!(audit_log(&g, dir.path())[1]["input"], r#"{"n":1}"#);
}

#[test]
fn the_tool_name_leaves_warnings_arguments_and_a_closed_governor_to_the_full_path() {
    let dir = tempfile::tempdir().unwrap();
    let options = json!({
        "policies": [{
            "name": "W",
            "policyType": "tool_invocation",
            "enforcementMode": "warn",
            "ruleDefinition": { "deny": ["echo"] }
        }, {
            "name": "A",
            "policyType": "tool_invocation",
            "enforcementMode": "block",
            "ruleDefinition": { "arguments": [
                { "tools": ["search"], "argument": "q", "kind": "regex", "deny": ["secret"] }
            ] }
        }],
    });
    let g = Governor::new(serde_json::from_value(options).unwrap()).unwrap();
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let other = Err(Undecided::Other);
    assert_eq!(
        g.decide_by_tool(h, "echo"),
        other,
        "a warning needs the full path"
    );
    assert_eq!(g.decide_by_tool(h, "other"), Ok(0), "no sink: ticket 0");
    assert_eq!(
        g.decide_by_tool(h, "search"),
        Err(Undecided::NeedsArguments)
    );
    assert_eq!(g.stats().decisions, 1, "only the call decided here counts");

    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(g.shutdown(Duration::from_secs(1)));
    assert_eq!(g.decide_by_tool(h, "echo"), Err(Undecided::Other));
}

#[test]
fn a_call_is_timed_from_its_decision_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let a = allow(&g, h, "{}");
    let b = allow(&g, h, "{}");
    std::thread::sleep(Duration::from_millis(20));
    // No end given: it ended now.
    g.complete(a, answered("1", None));
    // An end before the decision (a host clock gone wrong) is 0, not negative.
    g.complete(b, answered("2", Some(-60_000.0)));
    let recs = audit_log(&g, dir.path());
    assert!(
        about(&recs[0]["durationMs"], 20.0),
        "{}",
        recs[0]["durationMs"]
    );
    assert_eq!(recs[1]["durationMs"], 0.0);
}

#[test]
fn a_refusal_by_the_host_is_counted_and_recorded_like_a_policy_block() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let violation: execlave_core::decision::Violation = serde_json::from_value(json!({
        "policyId": "execlave_tool_pins",
        "policyName": "Pinned tool definitions",
        "policyType": "tool_pins",
        "enforcementMode": "block",
        "message": "the definition of tool \"echo\" changed since it was pinned",
        "tool": "echo",
        "rule": "definition_changed"
    }))
    .unwrap();
    // `echo` is allowed by the policies: only the host's check refuses it.
    let message = g
        .refuse_by_host(
            h,
            "echo".into(),
            Some(r#"{"text":"x"}"#.into()),
            vec![violation],
            false,
            None,
        )
        .unwrap();
    assert_eq!(
        message,
        "blocked by policy: the definition of tool \"echo\" changed since it was pinned"
    );
    let stats = g.stats();
    assert_eq!((stats.decisions, stats.blocked, stats.allowed), (1, 1, 0));
    let records = audit_log(&g, dir.path());
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["status"], "policy_blocked");
    assert_eq!(r["errorType"], "PolicyBlockedError");
    assert_eq!(r["input"], r#"{"text":"x"}"#);
    assert_eq!(r["metadata"]["toolName"], "echo");
    assert_eq!(r["metadata"]["decision"], "blocked");
    assert_eq!(r["metadata"]["violations"][0]["rule"], "definition_changed");
    assert_eq!(
        r["metadata"]["violations"][0]["policyId"],
        "execlave_tool_pins"
    );
}

#[test]
fn a_refusal_by_the_host_needs_a_violation() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    assert!(g
        .refuse_by_host(h, "echo".into(), None, vec![], false, None)
        .is_err());
    assert_eq!(g.stats().blocked, 0);
}

#[test]
fn the_values_path_allows_clean_calls_only_and_counts_nothing_else() {
    use execlave_core::policy::ArgumentValue;
    let dir = tempfile::tempdir().unwrap();
    let options = json!({
        "policies": [{
            "name": "Paths",
            "policyType": "tool_invocation",
            "enforcementMode": "block",
            "ruleDefinition": { "arguments": [
                { "tools": ["read_file"], "argument": "path", "kind": "path", "allow": ["/srv/**"] },
                { "tools": ["read_file"], "argument": "/opts/n", "kind": "number", "max": 10 }
            ] }
        }, {
            "name": "Watch",
            "policyType": "tool_invocation",
            "enforcementMode": "warn",
            "ruleDefinition": { "deny": ["read_secret"], "arguments": [
                { "tools": ["read_secret"], "argument": "path", "kind": "path", "allow": ["/srv/**"] }
            ] }
        }],
        "auditLog": dir.path().join("audit.jsonl"),
        "flushIntervalMs": 60_000
    });
    let g = Governor::new(serde_json::from_value(options).unwrap()).unwrap();
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let plan = g.argument_plan(h, "read_file").expect("a registered agent");
    let tokens: Vec<&[String]> = plan.lookups.iter().map(|l| &l.tokens[..]).collect();
    assert_eq!(
        tokens,
        [
            &["path".to_owned()][..],
            &["opts".to_owned(), "n".to_owned()][..]
        ]
    );
    let (path, n) = (
        ArgumentValue::Text("/srv/a".into()),
        ArgumentValue::Number(3.0),
    );

    let ticket = g
        .decide_values(h, "read_file", plan.id, &[path.clone(), n.clone()])
        .expect("every rule passes");
    assert_ne!(ticket, 0, "an audit log is set: the call is tracked");
    let other = Err(Undecided::Other);
    // A value a rule refuses, a value of another shape, a value short,
    // another plan, a warning: nothing decided, nothing counted.
    let refused = ArgumentValue::Text("/etc/passwd".into());
    assert_eq!(
        g.decide_values(h, "read_file", plan.id, &[refused, n.clone()]),
        other
    );
    assert_eq!(
        g.decide_values(
            h,
            "read_file",
            plan.id,
            &[path.clone(), ArgumentValue::Number(11.0)]
        ),
        other
    );
    let text_for_number = ArgumentValue::Text("3".into());
    assert_eq!(
        g.decide_values(h, "read_file", plan.id, &[path.clone(), text_for_number]),
        other
    );
    assert_eq!(
        g.decide_values(h, "read_file", plan.id, std::slice::from_ref(&path)),
        other
    );
    assert_eq!(
        g.decide_values(h, "read_file", plan.id + 1, &[path.clone(), n.clone()]),
        Err(Undecided::Stale)
    );
    let secret = g.argument_plan(h, "read_secret").unwrap();
    assert_eq!(
        g.decide_values(h, "read_secret", secret.id, std::slice::from_ref(&path)),
        other
    );
    assert_eq!(
        g.decide_values(h + 1, "read_file", plan.id, &[path, n]),
        other
    );
    let stats = g.stats();
    assert_eq!((stats.decisions, stats.allowed, stats.blocked), (1, 1, 0));

    // The arguments reach the record with the completion, as for calls
    // the tool name decides.
    g.complete(
        ticket,
        Completion {
            input: Some(r#"{"path":"/srv/a","opts":{"n":3}}"#.into()),
            ..answered("1", None)
        },
    );
    let recs = audit_log(&g, dir.path());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["input"], r#"{"path":"/srv/a","opts":{"n":3}}"#);
    assert_eq!(recs[0]["status"], "success");
}
