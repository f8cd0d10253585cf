//! What the integration tests share: a governor pointed at the loopback
//! test server, a way to run its async calls on its own runtime, and
//! readers for what it recorded.

#![allow(dead_code)] // each test file uses its own part of this

use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::{Governor, GovernorOptions};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

pub const KEY: &str = "exe_dev_integration_KEY_7f3a";

/// A governor in control-plane mode against `server`, recording to an
/// audit log in `dir`, with quick loops; `extra` options win.
pub fn governor(server: &TestServer, dir: &Path, extra: Value) -> Governor {
    let mut options = json!({
        "apiKey": KEY,
        "baseUrl": server.base_url,
        "auditLog": dir.join("audit.jsonl"),
        "policyRefreshMs": 50,
        "pollIntervalMs": 50,
        "firstSyncTimeoutMs": 5000,
        "requestTimeoutMs": 5000,
        "flushIntervalMs": 60000,
    });
    for (k, v) in extra.as_object().expect("options object") {
        options[k] = v.clone();
    }
    let options: GovernorOptions = serde_json::from_value(options).unwrap();
    Governor::new(options).unwrap()
}

/// Runs `future` on the governor's runtime, as a binding does.
/// [`governor`] with `extra`, its agent `ops-agent` registered, and the
/// first sync (and the agent's lookup) done.
pub async fn synced(server: &TestServer, dir: &Path, extra: Value) -> (Governor, u32) {
    let g = governor(server, dir, extra);
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let g2 = g.clone();
    on_core(&g, async move { g2.wait_for_sync(h).await }).await;
    (g, h)
}

pub async fn on_core<T: Send + 'static>(
    g: &Governor,
    future: impl Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    g.run_async(future, move |r| {
        let _ = tx.send(r);
    });
    rx.await.expect("settled").expect("no error")
}

/// Waits (bounded) until `ready` holds.
pub async fn eventually(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..500 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// `GET /api/v1/policies` answering `policies`.
pub fn policies(policies: Value) -> Reply {
    Reply::json(200, &json!({ "data": policies }).to_string())
}

/// A blocking tool-invocation policy denying `pattern`.
pub fn deny(name: &str, pattern: &str) -> Value {
    json!({
        "id": name, "name": name, "policyType": "tool_invocation",
        "enforcementMode": "block", "isActive": true,
        "ruleDefinition": { "deny": [pattern] }
    })
}

/// A policy only the control plane evaluates.
pub fn server_only(name: &str) -> Value {
    json!({
        "id": name, "name": name, "policyType": "rate_limit",
        "enforcementMode": "block", "isActive": true, "ruleDefinition": {}
    })
}

/// A control plane with no policies that knows `ops-agent` (`agt_1`) as
/// active at its own status-poll path, which a test routes anew to pause
/// or resume the agent.
pub async fn pausable_agent_server() -> TestServer {
    TestServer::routed(vec![
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
    .await
}

/// Pauses `ops-agent` on a [`pausable_agent_server`] (its status poll
/// answers "paused" with `reason` from now on) and waits until `g` refuses
/// its calls as paused.
pub async fn pause_agent(server: &TestServer, g: &Governor, h: u32, reason: &str) {
    server.route(
        "GET /api/v1/agents/agt_1/status-poll",
        vec![status("paused", Some(reason))],
    );
    eventually("the pause is seen", || {
        matches!(
            g.decide(h, "echo".into(), None, false, false),
            Ok(execlave_core::Outcome::Paused { .. })
        )
    })
    .await;
}

/// Keeps background requests from getting an answer once `server`'s
/// first sync is done, and returns the options for it: any answer shows
/// that the key works and lifts a rejection, so a test of a rejected key
/// must not race one. Status polls get 503s (an outage, which lifts
/// nothing), and the next policy refresh is an hour away.
pub fn without_background_answers(server: &TestServer) -> Value {
    server.route("GET /api/v1/agents/", vec![Reply::status(503)]);
    json!({ "policyRefreshMs": 3_600_000, "pollIntervalMs": 3_600_000 })
}

/// The routes of a control plane that answers the policy list with
/// `policies` and knows `ops-agent` (internal id `agt_1`) as active; a
/// test adds what else it needs.
pub fn agent_routes(policies: Reply) -> Vec<(&'static str, Vec<Reply>)> {
    vec![
        ("GET /api/v1/policies", vec![policies]),
        (
            "GET /api/v1/agents?",
            vec![agent_found("ops-agent", "agt_1")],
        ),
        ("GET /api/v1/agents/", vec![status("active", None)]),
    ]
}

/// `GET /api/v1/agents?search=…` finding `agent_id` as `internal`.
pub fn agent_found(agent_id: &str, internal: &str) -> Reply {
    Reply::json(
        200,
        &json!({ "data": [{ "id": internal, "agentId": agent_id }] }).to_string(),
    )
}

/// `GET /api/v1/agents/…/status-poll`.
pub fn status(status: &str, reason: Option<&str>) -> Reply {
    Reply::json(
        200,
        &json!({ "data": { "status": status, "reason": reason } }).to_string(),
    )
}

/// The audit log's records, after a flush.
pub async fn audit_log(g: &Governor, dir: &Path) -> Vec<Value> {
    let g2 = g.clone();
    on_core(g, async move { g2.flush().await }).await;
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
