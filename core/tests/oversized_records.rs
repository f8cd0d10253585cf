//! Issue 18 item 11: a model-chosen tool name cannot make records vanish.
//! The tool name is bounded in records as input and output are; on a 413
//! from `/traces/ingest` the batch is split and what fits is sent; a
//! single record too big even alone goes as a truncated stand-in that says
//! so, never dropped with its neighbours.

mod common;

use common::*;
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::Outcome;
use serde_json::{json, Value};

fn routes() -> Vec<(&'static str, Vec<Reply>)> {
    let mut routes = agent_routes(policies(json!([deny("d", "delete_*")])));
    routes.push(("POST /api/v1/traces/ingest", vec![Reply::json(202, "{}")]));
    routes
}

/// The traces of the ingest requests the server took (bodies within
/// `limit`; longer ones got 413).
fn delivered(server: &TestServer, limit: usize) -> Vec<Value> {
    server
        .requests_to("POST /api/v1/traces/ingest")
        .iter()
        .filter(|r| r.body.len() <= limit)
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["traces"].as_array().unwrap().clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_tool_name_is_bounded_and_a_413_loses_no_neighbour() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes()).await;
    // Far below the 8 KiB-bounded record of a 1 MiB name times four, well
    // above an ordinary batch of a few records.
    server.limit_body(64 * 1024);
    let (g, h) = synced(&server, dir.path(), json!({ "batchSize": 100 })).await;

    let huge = format!("delete_{}", "x".repeat(1 << 20));
    let refuse = |tool: &str| {
        assert!(matches!(
            g.decide(h, tool.into(), Some(r#"{"n":1}"#.into()), true, false)
                .unwrap(),
            Outcome::Block { .. }
        ));
    };
    for i in 0..20 {
        refuse(&format!("delete_{i}"));
    }
    refuse(&huge);
    refuse(&huge);
    for i in 20..40 {
        refuse(&format!("delete_{i}"));
    }

    // The audit log: every record, each bounded.
    let lines = audit_log(&g, dir.path()).await;
    assert_eq!(lines.len(), 42);
    for line in &lines {
        let text = line.to_string();
        assert!(text.len() < 48 * 1024, "a record of {} bytes", text.len());
    }
    let name = lines[20]["metadata"]["toolName"].as_str().unwrap();
    assert!(
        name.len() < 9 * 1024 && name.contains("truncated"),
        "{}",
        name.len()
    );

    // The control plane: all 42, the two big ones (each ~40 KiB: too big
    // together with their neighbours) in batches that fit.
    let got = delivered(&server, 64 * 1024);
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|t| t["traceId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 42, "every record reached the control plane");
    assert_eq!(g.stats().records_dropped, 0);
    assert!(
        server
            .requests_to("POST /api/v1/traces/ingest")
            .iter()
            .any(|r| r.body.len() > 64 * 1024),
        "a 413 was met"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_big_alone_goes_as_a_stand_in_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(routes()).await;
    // Smaller than one bounded refusal record (~40 KiB), larger than a
    // stand-in.
    server.limit_body(8 * 1024);
    let (g, h) = synced(&server, dir.path(), json!({ "batchSize": 100 })).await;
    let huge = format!("delete_{}", "y".repeat(1 << 20));
    for tool in ["delete_a", huge.as_str(), "delete_b"] {
        g.decide(h, tool.into(), None, true, false).unwrap();
    }
    audit_log(&g, dir.path()).await;
    let got = delivered(&server, 8 * 1024);
    assert_eq!(got.len(), 3, "three records sent");
    let stand_in = got
        .iter()
        .find(|t| t["metadata"].get("truncated").is_some())
        .expect("a stand-in");
    assert!(
        stand_in["metadata"]["truncated"]["originalBytes"]
            .as_u64()
            .unwrap()
            > 8 * 1024
    );
    assert_eq!(stand_in["status"], "policy_blocked");
    assert_eq!(g.stats().records_dropped, 0);
}
