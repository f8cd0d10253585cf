//! The rounds of a multi-round call (a `tools/call` answered
//! "input required" and sent again with its `requestState`): every round's
//! record is linked to the first round's, whatever the decision made of
//! it: allowed, blocked by a policy or by the host, refused while the agent
//! is paused, refused or let through in an outage, decided by the server.
//! A refused round was never sent, so its `requestState` still names the
//! same round: the retry is linked as that round too.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::decision::Violation;
use execlave_core::{AgentHandle, Completion, Governor, Outcome, Ticket};
use serde_json::{json, Value};
use std::path::Path;

/// `deploy` may go to `dev` only.
fn local_governor(dir: &Path) -> Governor {
    let options = json!({
        "policies": [{
            "name": "G",
            "policyType": "tool_invocation",
            "enforcementMode": "block",
            "ruleDefinition": {
                "arguments": [{ "tools": ["deploy"], "argument": "env", "kind": "glob", "allow": ["dev"] }]
            }
        }],
        "auditLog": dir.join("audit.jsonl"),
        "flushIntervalMs": 60_000
    });
    Governor::new(serde_json::from_value(options).unwrap()).unwrap()
}

fn audit_log_now(g: &Governor, dir: &Path) -> Vec<Value> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(g.flush());
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn env(e: &str) -> Option<String> {
    Some(json!({ "env": e }).to_string())
}

/// Round 1 of `deploy` to `dev`, answered "input required" with `state`.
fn first_round(g: &Governor, h: AgentHandle, state: &str) -> Ticket {
    let Outcome::Allow {
        ticket: Some(ticket),
        ..
    } = g
        .decide(h, "deploy".into(), env("dev"), true, false)
        .unwrap()
    else {
        panic!("round 1 is allowed")
    };
    assert!(g.open_next_round(ticket, state.into()));
    g.complete(ticket, Completion::answered(Some("{}".into())));
    ticket
}

/// Asserts that `records` are round 1 followed by rounds numbered `later`,
/// all with round 1's trace id as their parent.
fn assert_linked(records: &[Value], later: &[u64]) {
    let first = &records[0];
    assert_eq!(first["parentTraceId"], first["traceId"], "{first}");
    assert_eq!(first["metadata"]["round"], 1);
    assert_eq!(records.len(), later.len() + 1, "{records:?}");
    for (r, round) in records[1..].iter().zip(later) {
        assert_eq!(r["parentTraceId"], first["traceId"], "{r}");
        assert_eq!(r["metadata"]["round"], *round, "{r}");
        assert_ne!(r["traceId"], first["traceId"]);
    }
}

#[test]
fn a_blocked_round_is_linked_and_its_retry_is_the_same_round() {
    let dir = tempfile::tempdir().unwrap();
    let g = local_governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    first_round(&g, h, "s1");

    let blocked = g
        .decide_round(h, "deploy".into(), env("mars"), true, false, "s1")
        .unwrap();
    assert!(matches!(blocked, Outcome::Block { .. }), "{blocked:?}");
    let retry = g
        .decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap()
        .clean_ticket()
        .expect("the retry is allowed");
    g.complete(retry, Completion::answered(Some("{}".into())));
    // Sent once, the state names no round any more.
    let stale = g
        .decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap()
        .clean_ticket()
        .unwrap();
    g.complete(stale, Completion::answered(None));

    let recs = audit_log_now(&g, dir.path());
    assert_eq!(recs[1]["status"], "policy_blocked");
    assert_eq!(recs[1]["errorType"], "PolicyBlockedError");
    assert_linked(&recs[..3], &[2, 2]);
    assert!(recs[3].get("parentTraceId").is_none(), "{}", recs[3]);
}

#[test]
fn a_round_links_only_calls_of_the_registration_that_opened_it() {
    let dir = tempfile::tempdir().unwrap();
    let g = local_governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let other = g
        .register_agent("ops-agent", Some("other-session"), None, true)
        .unwrap();
    first_round(&g, h, "s1");
    // Another caller sending the same requestState (say echoed from
    // another server) is no round of this call: unlinked, allowed or
    // refused, and the round stays open for its own caller.
    let t = g
        .decide_round(other, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap()
        .clean_ticket()
        .unwrap();
    g.complete(t, Completion::answered(None));
    let refused = g
        .decide_round(other, "deploy".into(), env("mars"), true, false, "s1")
        .unwrap();
    assert!(matches!(refused, Outcome::Block { .. }), "{refused:?}");
    let t = g
        .decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap()
        .clean_ticket()
        .unwrap();
    g.complete(t, Completion::answered(None));

    let recs = audit_log_now(&g, dir.path());
    assert_eq!(recs.len(), 4);
    assert!(recs[1].get("parentTraceId").is_none(), "{}", recs[1]);
    assert!(recs[2].get("parentTraceId").is_none(), "{}", recs[2]);
    assert_linked(&[recs[0].clone(), recs[3].clone()], &[2]);
}

#[test]
fn a_round_refused_by_the_host_is_linked() {
    let dir = tempfile::tempdir().unwrap();
    let g = local_governor(dir.path());
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    first_round(&g, h, "s1");
    let violation = Violation {
        rule: Some("definition_changed".into()),
        message: "the tool's definition changed".into(),
        ..Violation::default()
    };
    g.refuse_by_host(
        h,
        "deploy".into(),
        env("dev"),
        vec![violation.clone()],
        false,
        Some("s1"),
    )
    .unwrap();
    // An unknown state links nothing.
    g.refuse_by_host(
        h,
        "deploy".into(),
        env("dev"),
        vec![violation.clone()],
        false,
        Some("unknown"),
    )
    .unwrap();
    let recs = audit_log_now(&g, dir.path());
    assert_linked(&recs[..2], &[2]);
    assert!(recs[2].get("parentTraceId").is_none(), "{}", recs[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_let_through_in_an_outage_is_linked_and_takes_its_place() {
    // No policy set can be had (the control plane answers 503): an
    // outage, here failing open (failing closed: see the rounds the
    // server decides).
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(agent_routes(Reply::status(503))).await;
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_open", "firstSyncTimeoutMs": 100 }),
    )
    .await;
    first_round(&g, h, "s1");
    let round = g
        .decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap();
    let Outcome::Allow {
        ticket: Some(t),
        bypass: Some(_),
        ..
    } = round
    else {
        panic!("{round:?}")
    };
    g.complete(t, Completion::answered(None));
    // Sent, the round's place is taken.
    let Outcome::Allow {
        ticket: Some(stale),
        ..
    } = g
        .decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap()
    else {
        panic!("allowed")
    };
    g.complete(stale, Completion::answered(None));
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs[1]["metadata"]["decidedBy"], "bypassed");
    assert_linked(&recs[..2], &[2]);
    assert!(
        recs[2..].iter().all(|r| r.get("parentTraceId").is_none()),
        "{recs:?}"
    );
}

fn remote_routes(enforce: Vec<Reply>, status_now: &str) -> Vec<(&'static str, Vec<Reply>)> {
    vec![
        (
            "GET /api/v1/policies",
            vec![policies(json!([server_only("rate")]))],
        ),
        (
            "GET /api/v1/agents?",
            vec![agent_found("ops-agent", "agt_1")],
        ),
        ("GET /api/v1/agents/", vec![status(status_now, None)]),
        ("POST /api/v1/policies/enforce", enforce),
    ]
}

async fn settle(g: &Governor, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::AskServer { ticket, .. } => {
            let g2 = g.clone();
            on_core(g, async move { g2.decide_remote(ticket, None).await }).await
        }
        other => other,
    }
}

/// Round 1, asked of the server (which allows it), answered "input
/// required" with `state`.
async fn first_remote_round(g: &Governor, h: AgentHandle, state: &str) {
    let first = g
        .decide(h, "deploy".into(), env("dev"), true, false)
        .unwrap();
    let Outcome::Allow {
        ticket: Some(t), ..
    } = settle(g, first).await
    else {
        panic!("round 1 is allowed")
    };
    assert!(g.open_next_round(t, state.into()));
    g.complete(t, Completion::answered(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_the_server_decides_are_linked_blocked_or_allowed_or_in_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = json!({ "allowed": false, "violations": [{
        "policyId": "rate", "policyName": "rate", "policyType": "rate_limit",
        "enforcementMode": "block", "message": "too many calls"
    }]});
    let server = TestServer::routed(remote_routes(
        vec![
            Reply::json(200, r#"{"allowed":true}"#),
            Reply::json(403, &blocked.to_string()),
            Reply::status(503),
            Reply::json(200, r#"{"allowed":true}"#),
        ],
        "active",
    ))
    .await;
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_closed", "maxRetries": 0 }),
    )
    .await;
    first_remote_round(&g, h, "s1").await;

    let round = |g: &Governor| {
        g.decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
            .unwrap()
    };
    let by_server = settle(&g, round(&g)).await;
    assert!(matches!(by_server, Outcome::Block { .. }), "{by_server:?}");
    let in_outage = settle(&g, round(&g)).await;
    assert!(
        matches!(in_outage, Outcome::Unavailable { .. }),
        "{in_outage:?}"
    );
    let Outcome::Allow {
        ticket: Some(t), ..
    } = settle(&g, round(&g)).await
    else {
        panic!("the server allows the retry")
    };
    g.complete(t, Completion::answered(None));

    let recs = audit_log(&g, dir.path()).await;
    let statuses: Vec<_> = recs.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses,
        ["success", "policy_blocked", "policy_blocked", "success"],
        "{recs:?}"
    );
    assert_eq!(recs[1]["errorType"], "PolicyBlockedError");
    assert_eq!(recs[2]["errorType"], "EnforcementUnavailableError");
    assert_linked(&recs, &[2, 2, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_refused_while_the_agent_is_paused_is_linked() {
    let dir = tempfile::tempdir().unwrap();
    let server = pausable_agent_server().await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;
    first_round(&g, h, "s1");
    pause_agent(&server, &g, h, "incident 42").await;
    let paused = g
        .decide_round(h, "deploy".into(), env("dev"), true, false, "s1")
        .unwrap();
    assert!(matches!(paused, Outcome::Paused { .. }), "{paused:?}");

    let recs: Vec<Value> = audit_log(&g, dir.path())
        .await
        .into_iter()
        .filter(|r| r["metadata"]["toolName"] == "deploy")
        .collect();
    assert_eq!(recs[1]["errorType"], "AgentPausedError");
    assert_linked(&recs, &[2]);
}
