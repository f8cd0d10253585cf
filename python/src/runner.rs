//! Running the core's futures for Python, and the outcome as JSON.
//!
//! Until the core owns the one runtime every binding uses (issue 9), this
//! binding keeps a small one of its own, as the napi crate uses napi-rs's.

use crate::{panic_message, py_error};
use execlave_core::Outcome;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::LazyLock;
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("execlave-py")
        .enable_all()
        .build()
        .expect("cannot start the Execlave runtime")
});

/// Runs `future` on the runtime, then calls `on_done(value)` with the GIL
/// held, or `on_done(error)` with an `ExeclaveError` if it panicked. If the
/// interpreter is shutting down, `on_done` is not called (nothing could
/// run it).
pub fn spawn<T, F, C>(future: F, on_done: Py<PyAny>, convert: C)
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    C: for<'py> FnOnce(Python<'py>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let task = RUNTIME.spawn(future);
    RUNTIME.spawn(async move {
        let result = task.await;
        Python::try_attach(|py| {
            let value = match result {
                Ok(v) => convert(py, v).unwrap_or_else(|e| e.into_value(py).into_any()),
                Err(e) => {
                    let message = match e.try_into_panic() {
                        Ok(panic) => panic_message(&*panic),
                        Err(_) => "the call was cancelled".into(),
                    };
                    py_error(message).into_value(py).into_any()
                }
            };
            if let Err(e) = on_done.call1(py, (value,)) {
                e.write_unraisable(py, None);
            }
        });
    });
}

/// Runs `future` to its end on the runtime and returns its value; the
/// caller has released the GIL.
pub fn block_on<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> PyResult<T> {
    RUNTIME
        .block_on(RUNTIME.spawn(future))
        .map_err(|e| match e.try_into_panic() {
            Ok(panic) => py_error(panic_message(&*panic)),
            Err(_) => py_error("the call was cancelled"),
        })
}

/// The outcome's JSON, with the message to show when it stops the call.
pub fn outcome_json(outcome: &Outcome) -> String {
    let mut value = serde_json::to_value(outcome).unwrap_or_else(|e| {
        serde_json::json!({ "kind": "unavailable", "reason": format!("internal error: {e}"), "consecutiveFailures": 0 })
    });
    let message = match outcome {
        Outcome::Block { violations, .. } => {
            Some(execlave_core::governor::violations_message(violations))
        }
        Outcome::Paused { agent_id, reason } => Some(match reason {
            Some(r) if !r.is_empty() => format!("agent {agent_id} is paused: {r}"),
            _ => format!("agent {agent_id} is paused"),
        }),
        Outcome::Unavailable { reason, .. } => Some(format!("enforcement unavailable: {reason}")),
        Outcome::Closed => {
            Some("this Execlave client has been shut down; the call was not sent".into())
        }
        _ => None,
    };
    if let (Some(m), Some(obj)) = (message, value.as_object_mut()) {
        obj.entry("message").or_insert(m.into());
    }
    value.to_string()
}
