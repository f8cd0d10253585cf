//! Policy sync against the loopback control plane: the first sync gates
//! the first decision, refreshes replace the set, a 304 keeps it, and an
//! answer with nothing valid never replaces a good set.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::Outcome;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_synced_set_decides_and_a_refresh_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(agent_routes(
        policies(json!([deny("no-deletes", "delete_*")])).with_header("ETag", "\"v1\""),
    ))
    .await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;

    let blocked = g.decide(h, "delete_all".into(), None, true, false).unwrap();
    assert!(matches!(blocked, Outcome::Block { .. }), "{blocked:?}");
    assert!(matches!(
        g.decide(h, "read_file".into(), None, true, false).unwrap(),
        Outcome::Allow { .. }
    ));

    // The set changes on the control plane: the next refresh applies it.
    server.route(
        "GET /api/v1/policies",
        vec![policies(json!([deny("no-reads", "read_*")]))],
    );
    eventually("the new set applies", || {
        matches!(
            g.decide(h, "read_file".into(), None, false, false),
            Ok(Outcome::Block { .. })
        )
    })
    .await;
    assert!(matches!(
        g.decide(h, "delete_all".into(), None, false, false)
            .unwrap(),
        Outcome::Allow { .. }
    ));
    let sent = server.requests_to("GET /api/v1/policies");
    assert!(
        sent.iter()
            .any(|r| r.header("if-none-match") == Some("\"v1\"")),
        "refreshes are conditional on the ETag"
    );
    assert!(g.stats().policy_syncs >= 2);
}

/// Issue 10 item 5: an answer with nothing readable keeps the last good set
/// in force and sends the calls it may cover to the server; it is counted in
/// `unreadable_policies` and never written to the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_nothing_readable_tightens_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(agent_routes(policies(json!([deny(
        "no-deletes",
        "delete_*"
    )]))))
    .await;
    let cache = dir.path().join("policies.json");
    let (g, h) = synced(&server, dir.path(), json!({ "policyCachePath": cache })).await;
    let good_cache = std::fs::read(&cache).unwrap();
    server.route(
        "GET /api/v1/policies",
        vec![policies(json!([{ "name": 42 }]))],
    );
    eventually("the unreadable answer was adopted", || {
        g.stats().unreadable_policies == 1
    })
    .await;
    assert!(matches!(
        g.decide(h, "delete_all".into(), None, false, false)
            .unwrap(),
        Outcome::Block { .. }
    ));
    assert!(matches!(
        g.decide(h, "search".into(), None, false, false).unwrap(),
        Outcome::AskServer { .. }
    ));
    assert_eq!(std::fs::read(&cache).unwrap(), good_cache);
}

/// Issue 10 item 5 at first sync: nothing to keep, the server decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_answer_with_nothing_readable_sends_calls_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(agent_routes(policies(json!([{ "name": 42 }])))).await;
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_open" }),
    )
    .await;
    assert!(matches!(
        g.decide(h, "search".into(), None, false, false).unwrap(),
        Outcome::AskServer { .. }
    ));
    assert_eq!(g.stats().unreadable_policies, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_requests_carry_the_one_user_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(vec![
        ("GET /api/v1/policies", vec![policies(json!([]))]),
        (
            "GET /api/v1/agents?",
            vec![Reply::json(200, r#"{"data":[]}"#)],
        ),
    ])
    .await;
    let (_g, _h) = synced(&server, dir.path(), json!({})).await;
    let sent = server.requests_to("GET /api/v1/policies");
    assert_eq!(
        sent[0].header("user-agent"),
        Some(execlave_core::control_plane::DEFAULT_USER_AGENT)
    );
}
