//! The approval flow against the loopback control plane: enforce answers
//! 202, the call waits (polls), the certificate is verified against the
//! very action context sent to enforce, and the call goes ahead once.
//! Every other path refuses it: none fails open.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{ApprovalScript, Reply, TestServer};
use execlave_core::sync::approval::ApprovalFailure;
use execlave_core::{Governor, Outcome};
use serde_json::json;
use std::time::Duration;

const ENFORCE: &str = "POST /api/v1/policies/enforce";

fn approval_202(id: &str) -> Reply {
    Reply::json(202, &json!({ "approvalRequestId": id }).to_string())
}

async fn server(enforce: Reply) -> TestServer {
    let mut routes = agent_routes(policies(json!([server_only("approve")])));
    routes.push((ENFORCE, vec![enforce]));
    TestServer::routed(routes).await
}

fn script(pending_polls: u32, then: &'static str) -> ApprovalScript {
    ApprovalScript {
        pending_polls,
        then,
        reason: None,
    }
}

fn quick() -> serde_json::Value {
    json!({ "approvalPollIntervalMs": 20, "approvalTimeoutMs": 5000 })
}

/// Decides one `write_file` call and, asked to, waits for the server.
async fn call(g: &Governor, h: u32) -> Outcome {
    let first = g
        .decide(
            h,
            "write_file".into(),
            Some(r#"{"path":"/tmp/x","content":"hi"}"#.into()),
            true,
            false,
        )
        .unwrap();
    let Outcome::AskServer { ticket, .. } = first else {
        panic!("the server must be asked: {first:?}");
    };
    let g2 = g.clone();
    on_core(g, async move { g2.decide_remote(ticket, None).await }).await
}

fn refused(outcome: &Outcome) -> (ApprovalFailure, String, Option<String>, Option<String>) {
    let Outcome::ApprovalRefused { refusal } = outcome else {
        panic!("refused for its approval: {outcome:?}");
    };
    (
        refusal.failure,
        refusal.approval_request_id.clone(),
        refusal.reason.clone(),
        refusal.cause.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_call_goes_ahead_once_with_the_action_context_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_1")).await;
    server.approval("apr_1", script(2, "approved"));
    let (g, h) = synced(&server, dir.path(), quick()).await;

    let outcome = call(&g, h).await;
    let Outcome::Allow {
        ticket: Some(ticket),
        ..
    } = outcome
    else {
        panic!("approved: {outcome:?}")
    };
    assert_eq!(server.requests_to("GET /api/v1/approvals/apr_1").len(), 3);
    let enforce = &server.requests_to(ENFORCE)[0].body;
    let verify = &server.requests_to("POST /api/v1/approvals/apr_1/verify")[0].body;
    let enforce = std::str::from_utf8(enforce).unwrap();
    let verify = std::str::from_utf8(verify).unwrap();
    // Same keys, same order, same values; nothing added.
    let context = enforce.replacen(r#""agentId":"ops-agent","#, "", 1);
    assert_eq!(verify, format!(r#"{{"actionContext":{context}}}"#));
    assert!(!verify.contains("null"));

    g.complete(ticket, execlave_core::Completion::answered(None));
    let stats = g.stats();
    assert_eq!((stats.approvals_granted, stats.approvals_waiting), (1, 0));
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs[0]["status"], "success");
    assert_eq!(recs[0]["metadata"]["approval"]["id"], "apr_1");
    assert_eq!(recs[0]["metadata"]["approval"]["outcome"], "granted");
    assert!(
        recs[0]["metadata"]["approval"]["waitedMs"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // Never cached: the next identical call asks again, and a certificate
    // is single use.
    let again = call(&g, h).await;
    assert_eq!(server.requests_to(ENFORCE).len(), 2);
    let (failure, _, reason, _) = refused(&again);
    assert_eq!(failure, ApprovalFailure::CertificateMismatch);
    assert_eq!(reason.as_deref(), Some("certificate_already_used"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_call_is_refused_with_the_reason_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_2")).await;
    server.approval(
        "apr_2",
        ApprovalScript {
            pending_polls: 1,
            then: "denied",
            reason: Some("not on a Friday".into()),
        },
    );
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let outcome = call(&g, h).await;
    let (failure, id, reason, _) = refused(&outcome);
    assert_eq!(failure, ApprovalFailure::Denied);
    assert_eq!(id, "apr_2");
    assert_eq!(reason.as_deref(), Some("not on a Friday"));
    assert!(outcome.message().unwrap().contains("not on a Friday"));
    assert!(server.requests_to("POST /api/v1/approvals").is_empty());
    assert_eq!(g.stats().approvals_refused, 1);
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs[0]["status"], "policy_blocked");
    assert_eq!(recs[0]["errorType"], "PolicyDeniedError");
    assert_eq!(recs[0]["metadata"]["approval"]["outcome"], "denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_never_decided_is_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_3")).await;
    server.approval("apr_3", script(0, "expired"));
    let (g, h) = synced(&server, dir.path(), quick()).await;
    assert_eq!(refused(&call(&g, h).await).0, ApprovalFailure::TimedOut);

    let server = self::server(approval_202("apr_4")).await;
    server.approval("apr_4", script(u32::MAX, "approved"));
    let options = json!({ "approvalPollIntervalMs": 20, "approvalTimeoutMs": 300 });
    let (g, h) = synced(&server, dir.path(), options).await;
    assert_eq!(refused(&call(&g, h).await).0, ApprovalFailure::TimedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_without_an_id_or_json_is_refused() {
    for reply in [
        Reply::json(202, "{}"),
        Reply::json(202, "not json"),
        Reply::status(202),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = server(reply).await;
        let (g, h) = synced(&server, dir.path(), quick()).await;
        let (failure, _, _, cause) = refused(&call(&g, h).await);
        assert_eq!(failure, ApprovalFailure::Unverifiable);
        assert!(cause.unwrap().contains("approvalRequestId"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_outages_are_retried_and_never_allow() {
    let dir = tempfile::tempdir().unwrap();
    // 503, 429, garbage, then approved: the call waits through them.
    let server = server(approval_202("apr_5")).await;
    server.approval("apr_5", script(0, "approved"));
    server.route(
        "GET /api/v1/approvals/apr_5",
        vec![
            Reply::status(503),
            Reply::status(429),
            Reply::json(200, "garbage"),
            Reply::json(200, r#"{"data":{"status":"approved"}}"#),
        ],
    );
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let outcome = call(&g, h).await;
    assert!(matches!(outcome, Outcome::Allow { .. }), "{outcome:?}");
    assert_eq!(server.requests_to("GET /api/v1/approvals/apr_5").len(), 4);

    // An outage longer than the timeout: refused, never allowed.
    let server = self::server(approval_202("apr_6")).await;
    server.route("GET /api/v1/approvals/", vec![Reply::status(502)]);
    let options = json!({ "approvalPollIntervalMs": 20, "approvalTimeoutMs": 300 });
    let (g, h) = synced(&server, dir.path(), options).await;
    assert_eq!(refused(&call(&g, h).await).0, ApprovalFailure::TimedOut);
    assert!(server.requests_to("POST /api/v1/approvals").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_poll_names_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_7")).await;
    server.route("GET /api/v1/approvals/", vec![Reply::status(404)]);
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (failure, _, _, cause) = refused(&call(&g, h).await);
    assert_eq!(failure, ApprovalFailure::Unverifiable);
    assert!(cause.unwrap().contains("HTTP 404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_failures_refuse() {
    let cases = [
        (
            Reply::json(
                200,
                r#"{"data":{"valid":false,"reason":"certificate_expired"}}"#,
            ),
            ApprovalFailure::CertificateMismatch,
        ),
        (
            Reply::json(200, r#"{"valid":"true"}"#),
            ApprovalFailure::Unverifiable,
        ),
        (
            Reply::json(200, r#"{"data":{}}"#),
            ApprovalFailure::Unverifiable,
        ),
        (Reply::status(500), ApprovalFailure::Unverifiable),
        (Reply::json(200, "<html>"), ApprovalFailure::Unverifiable),
    ];
    for (verify, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let server = server(approval_202("apr_8")).await;
        server.approval("apr_8", script(0, "approved"));
        server.route("POST /api/v1/approvals/apr_8/verify", vec![verify]);
        let (g, h) = synced(&server, dir.path(), quick()).await;
        assert_eq!(refused(&call(&g, h).await).0, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_action_context_is_refused_by_the_server() {
    // The server sealed another action (what a tampered call would be).
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_9")).await;
    server.approval("apr_9", script(0, "approved"));
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let other = g
        .decide(
            h,
            "write_file".into(),
            Some(r#"{"path":"/etc/x"}"#.into()),
            true,
            false,
        )
        .unwrap();
    let Outcome::AskServer { ticket: first, .. } = other else {
        panic!()
    };
    // The first call seals its action; the second, another action under
    // the same approval, does not match it.
    let g2 = g.clone();
    let first = on_core(&g, async move { g2.decide_remote(first, None).await }).await;
    assert!(matches!(first, Outcome::Allow { .. }), "{first:?}");
    let (failure, _, reason, _) = refused(&call(&g, h).await);
    assert_eq!(failure, ApprovalFailure::CertificateMismatch);
    assert_eq!(reason.as_deref(), Some("action_context_mismatch"));
}

/// A call that waits for ever (pending), started on the core.
fn waiting_call(g: &Governor, h: u32) -> (u64, tokio::sync::oneshot::Receiver<Outcome>) {
    let first = g
        .decide(h, "write_file".into(), Some("{}".into()), true, false)
        .unwrap();
    let Outcome::AskServer { ticket, .. } = first else {
        panic!("{first:?}")
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let g2 = g.clone();
    g.run_async(
        async move { g2.decide_remote(ticket, None).await },
        move |r| {
            let _ = tx.send(r.unwrap_or(Outcome::Closed));
        },
    );
    (ticket, rx)
}

async fn until_waiting(g: &Governor) {
    eventually("the call waits", || g.stats().approvals_waiting == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_wait_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_10")).await;
    server.approval("apr_10", script(u32::MAX, "approved"));
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (_, rx) = waiting_call(&g, h);
    until_waiting(&g).await;
    let g2 = g.clone();
    on_core(&g, async move { g2.shutdown(Duration::from_secs(1)).await }).await;
    assert_eq!(rx.await.unwrap(), Outcome::Closed);
    eventually("the wait is no longer counted", || {
        g.stats().approvals_waiting == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_during_a_wait_refuses_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_11")).await;
    server.approval("apr_11", script(u32::MAX, "approved"));
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (_, rx) = waiting_call(&g, h);
    until_waiting(&g).await;
    server.route(
        "GET /api/v1/agents/",
        vec![status("paused", Some("incident 7"))],
    );
    let outcome = tokio::time::timeout(Duration::from_secs(3), rx)
        .await
        .expect("at once, not at the approval timeout")
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Paused { reason, .. } if reason.as_deref() == Some("incident 7")),
        "{outcome:?}"
    );
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs[0]["errorType"], "AgentPausedError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_wait_ends_sends_nothing_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(approval_202("apr_12")).await;
    server.approval("apr_12", script(u32::MAX, "approved"));
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (ticket, rx) = waiting_call(&g, h);
    until_waiting(&g).await;
    assert!(g.cancel(ticket));
    assert!(!g.cancel(ticket), "once");
    assert_eq!(rx.await.unwrap(), Outcome::Cancelled);
    assert_eq!(g.stats().approvals_waiting, 0);
    assert!(server.requests_to("POST /api/v1/approvals").is_empty());
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["errorType"], "Cancelled");
    assert_eq!(recs[0]["metadata"]["approval"]["outcome"], "cancelled");
    assert_eq!(recs[0]["metadata"]["approval"]["id"], "apr_12");
}
