//! Bypass windows (`POST /api/v1/sdk/bypass-windows`): calls that went
//! ahead under `fail_open` without a decision, grouped and reported to the
//! loopback control plane; the reporter's schedule is shortened here
//! (the defaults are the official SDK's: 10 s, 60 s idle, 15 min, ...).

mod common;

use common::*;
use execlave_core::bypass::{BypassReason, BypassReporter, ReportTiming, WindowLimits};
use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::control_plane::{ApiClient, ApiConfig, CircuitBreaker, Connection};
use execlave_core::log::Logger;
use execlave_core::stats::Stats;
use execlave_core::{Governor, Outcome};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const ROUTE: &str = "POST /api/v1/sdk/bypass-windows";
const MS: Duration = Duration::from_millis(1);

fn quick() -> ReportTiming {
    ReportTiming {
        interval: 40 * MS,
        backoff_min: 40 * MS,
        backoff_max: 160 * MS,
        final_timeout: 2000 * MS,
        batch: 100,
        limits: WindowLimits {
            idle: Duration::from_secs(60),
            max_age: Duration::from_secs(900),
            max_kept: 500,
        },
    }
}

fn reporter(server: &TestServer, timing: ReportTiming) -> (Arc<BypassReporter>, Arc<Stats>) {
    let api = ApiClient::new(ApiConfig::new(server.base_url.clone(), KEY)).unwrap();
    let log = Arc::new(Logger::new(false, None));
    let connection = Arc::new(Connection::new(api, CircuitBreaker::default(), log.clone()));
    let stats = Arc::new(Stats::default());
    let r = Arc::new(BypassReporter::new(connection, timing, stats.clone(), log));
    (r, stats)
}

fn bodies(server: &TestServer) -> Vec<Value> {
    server
        .requests_to(ROUTE)
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn bypass(r: &BypassReporter, agent: &str, n: usize) {
    for _ in 0..n {
        r.record(agent, BypassReason::NetworkError, "unreachable", 3);
    }
}

#[tokio::test]
async fn a_window_closed_on_recovery_is_sent_with_its_count() {
    let server = TestServer::routed(vec![(ROUTE, vec![Reply::json(202, "{}")])]).await;
    let (r, stats) = reporter(&server, quick());
    tokio::spawn(r.clone().run());
    bypass(&r, "ops-agent", 3);
    bypass(&r, "other-agent", 1);
    tokio::time::sleep(120 * MS).await;
    assert!(bodies(&server).is_empty(), "open windows are not sent");
    r.recovered();
    eventually("a report", || !bodies(&server).is_empty()).await;
    let body = &bodies(&server)[0];
    assert_eq!(body["sdk"]["name"], "execlave-rust-core");
    assert!(body["sentAt"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("dropped").is_none());
    let windows = body["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2);
    let ops = windows
        .iter()
        .find(|w| w["agentId"] == "ops-agent")
        .unwrap();
    assert_eq!(ops["count"], 3);
    assert_eq!(ops["reason"], "network_error");
    assert_eq!(ops["source"], "sdk");
    assert_eq!(ops["consecutiveFailures"], 3);
    assert!(ops["windowId"].as_str().unwrap().len() >= 32);
    assert!(ops["firstAt"].as_str().unwrap() <= ops["lastAt"].as_str().unwrap());
    let r2 = r.clone();
    eventually("counted", move || {
        stats
            .bypass_windows_sent
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    })
    .await;
    tokio::time::sleep(120 * MS).await;
    assert_eq!(bodies(&server).len(), 1, "sent once");
    drop(r2);
}

#[tokio::test]
async fn an_idle_window_closes_by_itself() {
    let server = TestServer::routed(vec![(ROUTE, vec![Reply::json(200, "{}")])]).await;
    let mut timing = quick();
    timing.limits.idle = 100 * MS;
    let (r, _) = reporter(&server, timing);
    tokio::spawn(r.clone().run());
    bypass(&r, "ops-agent", 2);
    eventually("a report", || !bodies(&server).is_empty()).await;
    assert_eq!(bodies(&server)[0]["windows"][0]["count"], 2);
}

#[tokio::test]
async fn a_failed_report_is_retried_with_the_same_window_ids() {
    let server = TestServer::routed(vec![(
        ROUTE,
        vec![
            Reply::status(503),
            Reply::status(429),
            Reply::json(200, "{}"),
        ],
    )])
    .await;
    let (r, stats) = reporter(&server, quick());
    tokio::spawn(r.clone().run());
    bypass(&r, "ops-agent", 4);
    r.recovered();
    eventually("three tries", || bodies(&server).len() >= 3).await;
    // Counted once the answer is read, which on a busy machine may come
    // well after the request arrived.
    eventually("counted as sent", || {
        stats
            .bypass_windows_sent
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    tokio::time::sleep(300 * MS).await;
    let all = bodies(&server);
    assert_eq!(all.len(), 3, "nothing more once accepted");
    let ids: Vec<&Value> = all.iter().map(|b| &b["windows"][0]["windowId"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(all[2]["windows"][0]["count"], 4);
}

#[tokio::test]
async fn a_refused_report_is_dropped_not_retried() {
    for status in [400, 413, 422] {
        let server = TestServer::routed(vec![(ROUTE, vec![Reply::status(status)])]).await;
        let (r, stats) = reporter(&server, quick());
        tokio::spawn(r.clone().run());
        bypass(&r, "ops-agent", 1);
        r.recovered();
        eventually("a try", || !bodies(&server).is_empty()).await;
        eventually("counted as dropped", || {
            stats
                .bypass_windows_dropped
                .load(std::sync::atomic::Ordering::Relaxed)
                == 1
        })
        .await;
        tokio::time::sleep(300 * MS).await;
        assert_eq!(bodies(&server).len(), 1, "HTTP {status}: not retried");
    }
}

#[tokio::test]
async fn reports_hold_at_most_a_batch_and_what_was_not_kept_is_counted() {
    let server = TestServer::routed(vec![(ROUTE, vec![Reply::json(200, "{}")])]).await;
    let mut timing = quick();
    timing.limits.max_kept = 250;
    let (r, _) = reporter(&server, timing);
    for i in 0..260 {
        bypass(&r, &format!("agent-{i}"), 1);
        r.recovered();
    }
    r.finish(Duration::from_secs(5)).await;
    let all = bodies(&server);
    let sizes: Vec<usize> = all
        .iter()
        .map(|b| b["windows"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    let dropped = &all[0]["dropped"];
    assert_eq!(dropped["windows"], 10);
    assert_eq!(dropped["bypasses"], 10);
    assert!(dropped["dropId"].is_string() && dropped["since"].is_string());
    assert!(all[1].get("dropped").is_none(), "told once");
    assert_eq!(
        all[0]["windows"][0]["agentId"], "agent-10",
        "oldest dropped"
    );
}

#[tokio::test]
async fn shutdown_closes_open_windows_and_tries_once_more() {
    let server = TestServer::routed(vec![(ROUTE, vec![Reply::status(503)])]).await;
    let (r, stats) = reporter(&server, quick());
    bypass(&r, "ops-agent", 2);
    r.finish(Duration::from_secs(5)).await;
    assert_eq!(bodies(&server).len(), 1, "one try at shutdown");
    assert_eq!(bodies(&server)[0]["windows"][0]["count"], 2);
    assert_eq!(
        stats
            .bypass_windows_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "lost, and counted"
    );
}

// ---- through the governor ----

fn outage_routes() -> Vec<(&'static str, Vec<Reply>)> {
    let mut routes = agent_routes(policies(json!([server_only("rate")])));
    routes.push(("POST /api/v1/policies/enforce", vec![Reply::status(503)]));
    routes.push((ROUTE, vec![Reply::json(200, "{}")]));
    routes
}

async fn call(g: &Governor, h: u32) -> Outcome {
    let first = g.decide(h, "search".into(), None, false, false).unwrap();
    let Outcome::AskServer { ticket, .. } = first else {
        panic!("{first:?}")
    };
    let g2 = g.clone();
    on_core(g, async move { g2.decide_remote(ticket, None).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_fail_open_is_one_window_per_reason_with_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(outage_routes()).await;
    let (g, h) = synced(&server, dir.path(), json!({})).await;
    for _ in 0..5 {
        let outcome = call(&g, h).await;
        assert!(
            matches!(
                &outcome,
                Outcome::Allow {
                    bypass: Some(_),
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
    let g2 = g.clone();
    on_core(&g, async move { g2.shutdown(Duration::from_secs(5)).await }).await;
    let all = bodies(&server);
    assert_eq!(all.len(), 1, "one request at shutdown: {all:?}");
    let windows = all[0]["windows"].as_array().unwrap();
    // Grouped per (agent, reason): the first three calls saw the 503s;
    // those opened the breaker, and the next two never reached the server.
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert_eq!(windows[0]["agentId"], "ops-agent");
    assert_eq!(windows[0]["reason"], "server_error");
    assert_eq!(windows[0]["count"], 3);
    assert_eq!(windows[1]["reason"], "circuit_breaker_open");
    assert_eq!(windows[1]["count"], 2);
    assert_eq!(g.stats().bypass_windows_sent, 2);
    assert_eq!(g.stats().bypassed, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_bypasses_false_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::routed(outage_routes()).await;
    let (g, h) = synced(&server, dir.path(), json!({ "reportBypasses": false })).await;
    call(&g, h).await;
    let g2 = g.clone();
    on_core(&g, async move { g2.shutdown(Duration::from_secs(5)).await }).await;
    assert!(bodies(&server).is_empty());
    assert_eq!(g.stats().bypassed, 1);
}

#[tokio::test]
async fn a_forked_child_forgets_the_parents_windows() {
    let server = TestServer::routed(vec![(ROUTE, vec![Reply::json(200, "{}")])]).await;
    let (r, _) = reporter(&server, quick());
    bypass(&r, "ops-agent", 2);
    // The parent reports these; the child must not report them again.
    r.after_fork();
    r.finish(Duration::from_secs(5)).await;
    assert!(bodies(&server).is_empty());
}
