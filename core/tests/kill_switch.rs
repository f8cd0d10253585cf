//! The kill switch against the loopback control plane: an agent paused on
//! the control plane is refused (and the refusal recorded) within a poll,
//! and allowed again once resumed.

mod common;

use common::*;
use execlave_core::control_plane::test_server::TestServer;
use execlave_core::Outcome;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_agent_is_refused_until_it_is_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let server = pausable_agent_server().await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;
    assert!(matches!(
        g.decide(h, "echo".into(), None, false, false).unwrap(),
        Outcome::Allow { .. }
    ));

    pause_agent(&server, &g, h, "incident 42").await;
    let paused = g
        .decide(h, "echo".into(), Some("{}".into()), true, false)
        .unwrap();
    assert_eq!(
        paused,
        Outcome::Paused {
            agent_id: "ops-agent".into(),
            reason: Some("incident 42".into())
        }
    );
    assert_eq!(
        paused.message().unwrap(),
        "agent ops-agent is paused: incident 42"
    );
    assert!(
        g.decide_by_tool(h, "echo").is_err(),
        "the shortcut leaves a paused agent to the full decision"
    );

    server.route(
        "GET /api/v1/agents/agt_1/status-poll",
        vec![status("active", None)],
    );
    eventually("the resume is seen", || {
        matches!(
            g.decide(h, "echo".into(), None, false, false),
            Ok(Outcome::Allow { .. })
        )
    })
    .await;

    let recs = audit_log(&g, dir.path()).await;
    let refusal = recs
        .iter()
        .find(|r| r["errorType"] == "AgentPausedError")
        .expect("the refusal is recorded");
    assert_eq!(refusal["status"], "policy_blocked");
    assert_eq!(
        refusal["errorMessage"],
        "agent ops-agent is paused: incident 42"
    );
}

/// Issue 10 item 7: an agent the control plane did not know at start is
/// looked up again at each policy refresh until found; from then on its
/// kill switch applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_created_later_is_found_and_its_pause_applies() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(vec![
        ("GET /api/v1/policies", vec![policies(json!([]))]),
        (
            "GET /api/v1/agents?",
            vec![execlave_core::control_plane::test_server::Reply::json(
                200,
                r#"{"data":[]}"#,
            )],
        ),
        (
            "GET /api/v1/agents/agt_9/status-poll",
            vec![status("paused", Some("created paused"))],
        ),
    ])
    .await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;
    assert!(matches!(
        g.decide(h, "echo".into(), None, false, false).unwrap(),
        Outcome::Allow { .. }
    ));
    server.route(
        "GET /api/v1/agents?",
        vec![agent_found("ops-agent", "agt_9")],
    );
    eventually("the agent is found and its pause seen", || {
        matches!(
            g.decide(h, "echo".into(), None, false, false),
            Ok(Outcome::Paused { .. })
        )
    })
    .await;
}

/// Issue 10 item 10: the breaker guards the calls, not the polls. With a
/// minute-long cool-down, polls that failed far past the breaker's
/// threshold keep going on their own schedule, and a pause made during the
/// outage applies as soon as the control plane answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_keep_their_schedule_through_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let server = pausable_agent_server().await;
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "circuitBreakerCooldownMs": 60000 }),
    )
    .await;
    let down = execlave_core::control_plane::test_server::Reply::status(503);
    server.route("GET /api/v1/agents/agt_1/status-poll", vec![down.clone()]);
    server.route("GET /api/v1/policies", vec![down]);
    let polls = || {
        server
            .requests_to("GET /api/v1/agents/agt_1/status-poll")
            .len()
    };
    let before = polls();
    eventually("polls go on well past the breaker's threshold", || {
        polls() >= before + 6
    })
    .await;
    pause_agent(&server, &g, h, "during the outage").await;
}
