//! The governor's one runtime, as bindings use it (`run_async`): results
//! and panics come back through `done`, a call still pending when the
//! governor shuts down is settled as closed, and a governor without a
//! runtime runs its async calls to their end on the calling thread.

use execlave_core::{ErrorKind, Governor};
use serde_json::json;
use std::sync::mpsc;
use std::time::Duration;

fn governor(options: serde_json::Value) -> Governor {
    Governor::new(serde_json::from_value(options).unwrap()).unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn results_and_panics_come_back_through_done() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(json!({ "policies": [], "auditLog": dir.path().join("a.jsonl") }));
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    g.run_async(async { 42 }, move |r| {
        tx.send(r.map_err(|e| e.kind)).unwrap()
    });
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(42));
    g.run_async(async { panic!("deliberate") }, move |r: Result<u32, _>| {
        tx2.send(r.map_err(|e| e.kind)).unwrap()
    });
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(ErrorKind::Internal));
}

#[test]
fn a_call_pending_at_shutdown_is_settled_as_closed() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(json!({ "policies": [], "auditLog": dir.path().join("a.jsonl") }));
    let (tx, rx) = mpsc::channel();
    g.run_async(std::future::pending::<()>(), move |r| {
        tx.send(r.map_err(|e| e.kind)).unwrap()
    });
    let (tx2, rx2) = mpsc::channel();
    let g2 = g.clone();
    g.run_async(
        async move { g2.shutdown(Duration::from_secs(1)).await },
        move |r| tx2.send(r.is_ok()).unwrap(),
    );
    assert!(rx2.recv_timeout(WAIT).unwrap(), "shutdown resolves");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(ErrorKind::Closed));
    // After shutdown, async calls still settle (on the calling thread).
    let (tx3, rx3) = mpsc::channel();
    let g3 = g.clone();
    g.run_async(async move { g3.flush().await }, move |r| {
        tx3.send(r.is_ok()).unwrap()
    });
    assert!(rx3.try_recv().unwrap(), "settled before run_async returned");
}

#[test]
fn without_a_runtime_async_calls_finish_on_the_calling_thread() {
    let g = governor(json!({ "policies": [] }));
    let (tx, rx) = mpsc::channel();
    let caller = std::thread::current().id();
    let g2 = g.clone();
    g.run_async(async move { g2.flush().await }, move |r| {
        tx.send((r.is_ok(), std::thread::current().id())).unwrap()
    });
    assert_eq!(rx.try_recv().unwrap(), (true, caller));
}
