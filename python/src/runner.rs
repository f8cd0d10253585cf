//! The core's futures for Python: they run on the core's one runtime
//! ([`Governor::run_async`]), and their results come back either to a
//! Python callable (which resolves an asyncio future) or to a thread that
//! waits with the GIL released.

use crate::py_error;
use execlave_core::{Error, Governor};
use pyo3::prelude::*;
use std::future::Future;
use std::sync::mpsc;

/// Runs `future` on the governor's runtime, then calls `on_done(value)`
/// with the GIL held, or `on_done(error)` with an `ExeclaveError` (a panic
/// in the future, or a runtime shut down under it). If the interpreter is
/// shutting down, `on_done` is not called: nothing could run it.
pub fn spawn<T, F, C>(governor: &Governor, future: F, on_done: Py<PyAny>, convert: C)
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    C: for<'py> FnOnce(Python<'py>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    governor.run_async(future, move |result| {
        Python::try_attach(|py| {
            let value = match result {
                Ok(v) => convert(py, v).unwrap_or_else(|e| e.into_value(py).into_any()),
                Err(e) => py_error(e).into_value(py).into_any(),
            };
            if let Err(e) = on_done.call1(py, (value,)) {
                e.write_unraisable(py, None);
            }
        });
    });
}

/// Runs `future` on the governor's runtime and waits for its value on this
/// thread; the caller has released the GIL.
pub fn block_on<T, F>(governor: &Governor, future: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (send, receive) = mpsc::sync_channel(1);
    governor.run_async(future, move |result| {
        // The receiver waits below; it is gone only if this thread is.
        let _ = send.send(result);
    });
    // `run_async` always calls `done` (a dropped task settles as closed).
    receive.recv().unwrap_or_else(|_| {
        Err(Error::new(
            execlave_core::ErrorKind::Closed,
            execlave_core::messages::CLOSED,
        ))
    })
}
