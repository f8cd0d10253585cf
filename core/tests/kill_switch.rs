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
    let server = TestServer::routed(vec![
        ("GET /api/v1/policies", vec![policies(json!([]))]),
        (
            "GET /api/v1/agents?",
            vec![agent_found("ops-agent", "agt_1")],
        ),
        (
            "GET /api/v1/agents/agt_1/status-poll",
            vec![status("active", None)],
        ),
    ])
    .await;
    let g = governor(&server, dir.path(), json!({}));
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let g2 = g.clone();
    on_core(&g, async move { g2.wait_for_sync(h).await }).await;
    assert!(matches!(
        g.decide(h, "echo".into(), None, false, false).unwrap(),
        Outcome::Allow { .. }
    ));

    server.route(
        "GET /api/v1/agents/agt_1/status-poll",
        vec![status("paused", Some("incident 42"))],
    );
    eventually("the pause is seen", || {
        matches!(
            g.decide(h, "echo".into(), None, false, false),
            Ok(Outcome::Paused { .. })
        )
    })
    .await;
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
