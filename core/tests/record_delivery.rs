//! Record delivery against the loopback control plane: records reach
//! ingest and the audit log once each, an outage is retried without
//! writing the audit log twice, and a 403 from ingest is booked as the 403
//! it is.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::{Completion, Outcome};
use serde_json::json;

fn routes(ingest: Vec<Reply>) -> Vec<(&'static str, Vec<Reply>)> {
    let mut routes = agent_routes(policies(json!([deny("d", "delete_*")])));
    routes.push(("POST /api/v1/traces/ingest", ingest));
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_both_sinks_once_and_an_outage_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::status(503),
        Reply::json(202, "{}"),
    ]))
    .await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;

    let Outcome::Allow {
        ticket: Some(t), ..
    } = g
        .decide(h, "echo".into(), Some(r#"{"n":1}"#.into()), true, false)
        .unwrap()
    else {
        panic!("allowed")
    };
    g.complete(t, Completion::answered(Some("\"hi\"".into())));
    assert!(matches!(
        g.decide(h, "delete_all".into(), None, true, false).unwrap(),
        Outcome::Block { .. }
    ));

    // The first round: three 503s, the batch stays buffered; the audit log
    // has it already.
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs.len(), 2);
    assert_eq!(
        server.requests_to("POST /api/v1/traces/ingest").len(),
        3,
        "three tries"
    );
    assert_eq!(g.stats().records_written, 0);

    // The next round delivers it, without a second audit-log line.
    let recs = audit_log(&g, dir.path()).await;
    assert_eq!(recs.len(), 2, "written to the audit log once");
    let sent = server.requests_to("POST /api/v1/traces/ingest");
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].body, sent[3].body, "the same batch, the same ids");
    let body: serde_json::Value = serde_json::from_slice(&sent[3].body).unwrap();
    let traces = body["traces"].as_array().unwrap();
    let tools: Vec<&str> = traces
        .iter()
        .map(|t| t["metadata"]["toolName"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["echo", "delete_all"]);
    assert_eq!(traces[0]["traceId"], recs[0]["traceId"]);
    assert_eq!(g.stats().records_written, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_from_ingest_is_booked_as_403() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes(vec![Reply::status(403)])).await;
    // On a slow machine a policy refresh once answered between the 403
    // and the decision below, and the call was allowed.
    let quiet = without_background_answers(&server);
    let (g, h) = synced(&server, dir.path(), quiet).await;
    assert!(matches!(
        g.decide(h, "delete_all".into(), None, true, false).unwrap(),
        Outcome::Block { .. }
    ));
    audit_log(&g, dir.path()).await;
    assert_eq!(g.stats().records_dropped, 1);
    assert_eq!(
        g.decide(h, "echo".into(), None, false, false).unwrap(),
        Outcome::AuthFailed { status: 403 },
        "the rejected key is reported with the status it came with"
    );
}
