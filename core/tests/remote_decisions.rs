//! Server-side decisions against the loopback control plane: calls the
//! local engine cannot finish are asked about, and the answer is applied
//! and recorded as the server's.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::{Governor, Outcome};
use serde_json::json;

fn routes(enforce: Reply) -> Vec<(&'static str, Vec<Reply>)> {
    let mut routes = agent_routes(policies(json!([server_only("rate")])));
    routes.push(("POST /api/v1/policies/enforce", vec![enforce]));
    routes
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
    let (g, h) = synced(&server, dir.path(), json!({})).await;

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
    let (g, h) = synced(&server, dir.path(), json!({})).await;
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
    let quiet = without_background_answers(&server);
    let (g, h) = synced(&server, dir.path(), quiet).await;
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
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_closed" }),
    )
    .await;
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

/// Issue 10 item 4: a status that answers this very request without a
/// decision (the arguments are a model's) is refused even with `fail_open`;
/// only real outages may let the call through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_outage_of_enforce_may_fail_open() {
    let refusals = [400, 404, 409, 413, 422, 302];
    let outages = [500, 503, 429, 408];
    for status in refusals.into_iter().chain(outages) {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::routed(routes(Reply::status(status))).await;
        let (g, h) = synced(
            &server,
            dir.path(),
            json!({ "enforcementOnOutage": "fail_open" }),
        )
        .await;
        let first = g.decide(h, "search".into(), None, true, false).unwrap();
        let outcome = ask(&g, first).await;
        if outages.contains(&status) {
            assert!(
                matches!(
                    &outcome,
                    Outcome::Allow {
                        bypass: Some(_),
                        ..
                    }
                ),
                "HTTP {status}: {outcome:?}"
            );
        } else {
            let Outcome::Unavailable { reason, .. } = &outcome else {
                panic!("HTTP {status} must refuse the call: {outcome:?}")
            };
            assert!(reason.contains(&status.to_string()), "{reason}");
        }
    }
}

/// Issue 10 item 6: with `enforcement: 'remote'` the server is asked even
/// when `GET /policies` fails: no local set is no reason to bypass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_enforcement_asks_the_server_without_a_policy_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = routes(Reply::json(200, r#"{"allowed":true}"#));
    r[0].1 = vec![Reply::status(503)];
    let server = TestServer::routed(r).await;
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "enforcement": "remote", "enforcementOnOutage": "fail_open" }),
    )
    .await;
    let first = g.decide(h, "search".into(), None, true, false).unwrap();
    let outcome = ask(&g, first).await;
    assert!(
        matches!(outcome, Outcome::Allow { bypass: None, .. }),
        "{outcome:?}"
    );
    assert_eq!(server.requests_to("POST /api/v1/policies/enforce").len(), 1);
    assert_eq!(g.stats().bypassed, 0);
}

/// Issue 10 item 11: with `enforce: false` a server refusal is a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_monitor_mode_a_server_refusal_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = json!({ "allowed": false, "violations": [{
        "policyId": "rate", "policyName": "rate", "policyType": "rate_limit",
        "enforcementMode": "block", "message": "too many calls"
    }]});
    let server = TestServer::routed(routes(Reply::json(403, &blocked.to_string()))).await;
    let g = governor(&server, dir.path(), json!({}));
    let h = g.register_agent("ops-agent", None, None, false).unwrap();
    let g2 = g.clone();
    on_core(&g, async move { g2.wait_for_sync(h).await }).await;
    let first = g.decide(h, "search".into(), None, true, false).unwrap();
    let outcome = ask(&g, first).await;
    let Outcome::Allow { warnings, .. } = &outcome else {
        panic!("monitor mode must allow: {outcome:?}")
    };
    assert_eq!(warnings[0].message, "too many calls");
}

/// Issue 10 item 8: a call waiting on a remote decision when `shutdown`
/// runs is refused as shut down, never let through by `fail_open` as if
/// the dropped request were an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_a_call_waiting_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes(Reply::silent())).await;
    let (g, h) = synced(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_open" }),
    )
    .await;
    let Outcome::AskServer { ticket, .. } =
        g.decide(h, "search".into(), None, true, false).unwrap()
    else {
        panic!("the server must be asked")
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let g2 = g.clone();
    g.run_async(
        async move { g2.decide_remote(ticket, None).await },
        move |r| {
            let _ = tx.send(r);
        },
    );
    eventually("the request is on its way", || {
        !server
            .requests_to("POST /api/v1/policies/enforce")
            .is_empty()
    })
    .await;
    let g2 = g.clone();
    on_core(&g, async move {
        g2.shutdown(std::time::Duration::from_millis(100)).await
    })
    .await;
    // The engine's own answer, before the runtime goes: not a task
    // dropped with it.
    assert_eq!(
        rx.await.expect("settled").expect("answered"),
        Outcome::Closed
    );
    assert_eq!(g.stats().bypassed, 0);
}

/// Issue 10 item 8: a wait for the first sync ends at shutdown, and the
/// call is then refused as shut down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_wait_for_the_first_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(vec![
        ("GET /api/v1/policies", vec![Reply::silent()]),
        ("GET /api/v1/agents?", vec![Reply::silent()]),
    ])
    .await;
    let g = governor(
        &server,
        dir.path(),
        json!({ "enforcementOnOutage": "fail_open", "firstSyncTimeoutMs": 30000 }),
    );
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    assert_eq!(
        g.decide(h, "search".into(), None, true, false).unwrap(),
        Outcome::WaitForSync
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    let g2 = g.clone();
    g.run_async(async move { g2.wait_for_sync(h).await }, move |r| {
        let _ = tx.send(r);
    });
    let g2 = g.clone();
    on_core(&g, async move {
        g2.shutdown(std::time::Duration::from_millis(100)).await
    })
    .await;
    tokio::time::timeout(std::time::Duration::from_secs(5), rx)
        .await
        .expect("the wait ended with the shutdown")
        .expect("settled")
        .expect("the wait returned, before the runtime went");
    assert_eq!(
        g.decide(h, "search".into(), None, true, false).unwrap(),
        Outcome::Closed
    );
}

/// Issue 10 item 16: server text carrying the key, in another letter case,
/// reaches neither the outcome nor the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_redacted_from_server_text_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let leaked = format!("denied for {}", KEY.to_uppercase());
    let blocked = json!({ "allowed": false, "violations": [{
        "policyId": "rate", "policyName": "rate", "policyType": "rate_limit",
        "enforcementMode": "block", "message": leaked
    }]});
    let server = TestServer::routed(routes(Reply::json(403, &blocked.to_string()))).await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;
    let first = g.decide(h, "search".into(), None, true, false).unwrap();
    let outcome = ask(&g, first).await;
    let text = outcome.to_json().to_lowercase();
    assert!(text.contains("[redacted]"), "{text}");
    assert!(!text.contains(&KEY.to_lowercase()), "{text}");
    let recs = serde_json::to_string(&audit_log(&g, dir.path()).await)
        .unwrap()
        .to_lowercase();
    assert!(!recs.contains(&KEY.to_lowercase()), "{recs}");
}
