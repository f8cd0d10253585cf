//! Server-side decisions against the loopback control plane: calls the
//! local engine cannot finish are asked about, and the answer is applied
//! and recorded as the server's.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::{Governor, Outcome};
use serde_json::json;

async fn ready(server: &TestServer, dir: &std::path::Path) -> (Governor, u32) {
    let g = governor(server, dir, json!({}));
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let g2 = g.clone();
    on_core(&g, async move { g2.wait_for_sync(h).await }).await;
    (g, h)
}

fn routes(enforce: Reply) -> Vec<(&'static str, Vec<Reply>)> {
    vec![
        (
            "GET /api/v1/policies",
            vec![policies(json!([server_only("rate")]))],
        ),
        (
            "GET /api/v1/agents?",
            vec![agent_found("ops-agent", "agt_1")],
        ),
        ("GET /api/v1/agents/", vec![status("active", None)]),
        ("POST /api/v1/policies/enforce", vec![enforce]),
    ]
}

async fn ask(g: &Governor, outcome: Outcome) -> Outcome {
    let Outcome::AskServer { ticket, .. } = outcome else {
        panic!("the server must be asked: {outcome:?}");
    };
    let g2 = g.clone();
    on_core(g, async move { g2.decide_remote(ticket, None).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_side_block_is_recorded_as_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = json!({ "allowed": false, "violations": [{
        "policyId": "rate", "policyName": "rate", "policyType": "rate_limit",
        "enforcementMode": "block", "message": "too many calls"
    }]});
    let server = TestServer::routed(routes(Reply::json(403, &blocked.to_string()))).await;
    let (g, h) = ready(&server, dir.path()).await;

    let first = g
        .decide(h, "search".into(), Some(r#"{"q":"x"}"#.into()), true, false)
        .unwrap();
    let outcome = ask(&g, first).await;
    let Outcome::Block { violations, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(violations[0].message, "too many calls");
    assert_eq!(
        outcome.message().unwrap(),
        "blocked by policy: too many calls"
    );

    let sent = server.requests_to("POST /api/v1/policies/enforce");
    let body: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["tools"], json!(["search"]));
    assert_eq!(body["metadata"]["toolArguments"], json!({ "q": "x" }));

    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["status"], "policy_blocked");
    assert_eq!(recs[0]["errorType"], "PolicyBlockedError");
    assert_eq!(
        recs[0]["metadata"]["decidedBy"], "remote",
        "the server made this decision"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_side_allow_is_completed_and_recorded_as_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes(Reply::json(200, r#"{"allowed":true}"#))).await;
    let (g, h) = ready(&server, dir.path()).await;
    let first = g.decide(h, "search".into(), None, true, false).unwrap();
    let Outcome::Allow {
        ticket: Some(ticket),
        ..
    } = ask(&g, first).await
    else {
        panic!("allowed with a ticket")
    };
    g.complete(
        ticket,
        execlave_core::Completion::answered(Some("\"ok\"".into())),
    );
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "success");
    assert_eq!(recs[0]["metadata"]["decidedBy"], "remote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_that_is_not_a_decision_is_reported_as_403() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes(Reply::status(403))).await;
    let (g, h) = ready(&server, dir.path()).await;
    let first = g.decide(h, "search".into(), None, true, false).unwrap();
    let outcome = ask(&g, first).await;
    assert_eq!(outcome, Outcome::AuthFailed { status: 403 });
    assert!(outcome.message().unwrap().contains("HTTP 403"));
    // Every call is refused from now on, saying the same.
    assert_eq!(
        g.decide(h, "echo".into(), None, false, false).unwrap(),
        Outcome::AuthFailed { status: 403 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_closed_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes(Reply::status(503))).await;
    let g = governor(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_closed" }),
    );
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let g2 = g.clone();
    on_core(&g, async move { g2.wait_for_sync(h).await }).await;
    let first = g.decide(h, "search".into(), None, true, false).unwrap();
    let outcome = ask(&g, first).await;
    let Outcome::Unavailable { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("503"), "{reason}");
    assert!(outcome
        .message()
        .unwrap()
        .starts_with("enforcement unavailable: "));
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs[0]["errorType"], "EnforcementUnavailableError");
}
