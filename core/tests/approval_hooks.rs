//! The hooks `execlave-mcp` uses to ask a person about a service approval
//! too (`Governor::decide_remote_observed`): it learns the approval
//! request's id when the wait begins, and the certificate is verified (so
//! used) only once the person consented. A refusal in the host cancels the
//! wait with its reason; nothing more is sent.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{ApprovalScript, Reply, TestServer};
use execlave_core::engine::approval_wait::ApprovalHooks;
use execlave_core::sync::approval::ApprovalFailure;
use execlave_core::{Governor, Outcome};
use serde_json::json;
use tokio::sync::oneshot;

const ENFORCE: &str = "POST /api/v1/policies/enforce";
const VERIFY: &str = "POST /api/v1/approvals/apr_h/verify";

/// A server whose enforce answers 202 `apr_h`, approved at the first poll.
async fn approving_server() -> TestServer {
    let mut routes = agent_routes(policies(json!([server_only("approve")])));
    routes.push((
        ENFORCE,
        vec![Reply::json(202, r#"{"approvalRequestId":"apr_h"}"#)],
    ));
    let server = TestServer::routed(routes).await;
    server.approval(
        "apr_h",
        ApprovalScript {
            pending_polls: 0,
            then: "approved",
            reason: None,
        },
    );
    server
}

/// One write_file call decided with the hooks; its ticket, the id's
/// receiver, the consent's sender and the outcome's receiver.
fn observed_call(
    g: &Governor,
    h: u32,
) -> (
    u64,
    oneshot::Receiver<String>,
    oneshot::Sender<()>,
    oneshot::Receiver<Outcome>,
) {
    let first = g
        .decide(h, "write_file".into(), Some("{}".into()), true, false)
        .unwrap();
    let Outcome::AskServer { ticket, .. } = first else {
        panic!("{first:?}")
    };
    let (on_pending, pending) = oneshot::channel();
    let (consent, consent_rx) = oneshot::channel();
    let hooks = ApprovalHooks {
        on_pending: Some(on_pending),
        consent: Some(consent_rx),
    };
    let (tx, rx) = oneshot::channel();
    let g2 = g.clone();
    g.run_async(
        async move { g2.decide_remote_observed(ticket, None, hooks).await },
        move |r| {
            let _ = tx.send(r.unwrap_or(Outcome::Closed));
        },
    );
    (ticket, pending, consent, rx)
}

fn quick() -> serde_json::Value {
    json!({ "approvalPollIntervalMs": 20, "approvalTimeoutMs": 5000 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_is_used_before_the_person_consents() {
    let dir = tempfile::tempdir().unwrap();
    let server = approving_server().await;
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (_, pending, consent, rx) = observed_call(&g, h);
    assert_eq!(pending.await.unwrap(), "apr_h");
    eventually("the service approved", || {
        !server.requests_to("GET /api/v1/approvals/apr_h").is_empty()
    })
    .await;
    assert!(server.requests_to(VERIFY).is_empty(), "held for the person");
    consent.send(()).unwrap();
    let outcome = rx.await.unwrap();
    assert!(matches!(outcome, Outcome::Allow { .. }), "{outcome:?}");
    assert_eq!(server.requests_to(VERIFY).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_in_the_host_cancels_the_wait_with_its_reason_and_sends_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let server = approving_server().await;
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (ticket, pending, consent, rx) = observed_call(&g, h);
    pending.await.unwrap();
    assert!(g.cancel_because(ticket, "declined in the host"));
    drop(consent);
    assert_eq!(rx.await.unwrap(), Outcome::Cancelled);
    assert!(server.requests_to(VERIFY).is_empty());
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["errorType"], "Cancelled");
    assert_eq!(
        recs[0]["errorMessage"],
        "declined in the host; the call was not sent"
    );
    assert_eq!(recs[0]["metadata"]["approval"]["outcome"], "cancelled");
    assert_eq!(recs[0]["metadata"]["approval"]["id"], "apr_h");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_dropped_unsent_refuses_never_allows() {
    let dir = tempfile::tempdir().unwrap();
    let server = approving_server().await;
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (_, pending, consent, rx) = observed_call(&g, h);
    pending.await.unwrap();
    drop(consent);
    let outcome = rx.await.unwrap();
    let Outcome::ApprovalRefused { refusal } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(refusal.failure, ApprovalFailure::Denied);
    assert!(server.requests_to(VERIFY).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_a_202_tells_no_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut routes = agent_routes(policies(json!([server_only("approve")])));
    routes.push((ENFORCE, vec![Reply::json(200, r#"{"allowed":true}"#)]));
    let server = TestServer::routed(routes).await;
    let (g, h) = synced(&server, dir.path(), quick()).await;
    let (_, pending, _consent, rx) = observed_call(&g, h);
    assert!(matches!(rx.await.unwrap(), Outcome::Allow { .. }));
    assert!(pending.await.is_err(), "the sender is dropped unsent");
}
