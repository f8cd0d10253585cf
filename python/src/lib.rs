//! The Python binding: converts between Python and the core's
//! [`Governor`]. No policy logic lives here.
//!
//! Every method catches panics: a bug in the core becomes an
//! `execlave.errors.ExeclaveError`, never an abort of the interpreter (nor
//! PyO3's `PanicException`, which derives from `BaseException` and would
//! slip past the `except Exception` of the user's agent). The core's typed
//! errors become `ExeclaveError` with the kind in its `kind` attribute.
//!
//! Threads: a decision runs on the calling thread with the GIL held (it
//! takes microseconds; releasing and retaking the GIL would cost more).
//! `flush`, `shutdown` and `stats` release the GIL while they wait. A
//! decision that needs the network runs on the core's runtime and hands its
//! result to a Python callable (which resolves an asyncio future through
//! `loop.call_soon_threadsafe`), so the event loop is never blocked.

mod log_bridge;
mod proxy;
mod runner;
mod tool_pins;

use execlave_core::engine::local_approval::LocalVerdict;
use execlave_core::{Completion, Ending, Error, ErrorKind, Governor, GovernorOptions, Outcome};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

pyo3::import_exception!(execlave.errors, ExeclaveError);

/// The core's error as an `ExeclaveError`, its kind in `kind`
/// (`invalid_options`, `invalid_policy`, `invalid_argument`, `closed`,
/// `internal`).
fn py_error(e: Error) -> PyErr {
    let kind = match e.kind {
        ErrorKind::InvalidOptions => "invalid_options",
        ErrorKind::InvalidPolicy => "invalid_policy",
        ErrorKind::InvalidArgument => "invalid_argument",
        ErrorKind::Closed => "closed",
        ErrorKind::Internal => "internal",
    };
    let err = ExeclaveError::new_err(e.message);
    Python::attach(|py| {
        // Setting an attribute on a fresh exception instance cannot fail in
        // practice; were it to, the error still carries its message.
        let _ = err.value(py).setattr("kind", kind);
    });
    err
}

/// Runs `f`, turning a panic into an `ExeclaveError` (kind `internal`).
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(py_error(Error::from_panic(&*panic))))
}

/// How a call ended, as `complete` takes it.
const ANSWERED: u8 = 0;
const ANSWERED_IS_ERROR: u8 = 1;
const THREW: u8 = 2;

/// The native side of one `Execlave` client.
#[pyclass(frozen, module = "execlave._native")]
struct NativeGovernor {
    inner: Governor,
}

#[pymethods]
impl NativeGovernor {
    /// `options_json`: the client's options as JSON, camelCase keys (the
    /// callbacks stay in Python).
    /// `log(level, line)`, when given, receives the core's diagnostics
    /// (see `log_bridge`); without it they go to stderr.
    #[new]
    #[pyo3(signature = (options_json, log = None))]
    fn new(options_json: &str, log: Option<Py<PyAny>>) -> PyResult<Self> {
        guarded(|| {
            let mut options = GovernorOptions::from_json(options_json).map_err(py_error)?;
            options.log_sink = log.map(log_bridge::sink);
            let inner = Governor::new(options).map_err(py_error)?;
            Ok(Self { inner })
        })
    }

    /// The agent's handle, which `decide` and `wait_for_sync` take.
    #[pyo3(signature = (agent_id, session_id, user_id, enforce))]
    fn register_agent(
        &self,
        agent_id: &str,
        session_id: Option<&str>,
        user_id: Option<&str>,
        enforce: bool,
    ) -> PyResult<u32> {
        guarded(|| {
            self.inner
                .register_agent(agent_id, session_id, user_id, enforce)
                .map_err(py_error)
        })
    }

    /// The tools `server` listed to the wrapped session of `handle`
    /// (`tool_pins`): `definitions` are their pinned fields as JSON text
    /// (None: unreadable). See the core's `set_tool_descriptors`.
    fn set_tool_descriptors(
        &self,
        handle: u32,
        server: &str,
        definitions: Vec<Option<String>>,
    ) -> PyResult<()> {
        guarded(|| {
            self.inner
                .set_tool_descriptors(handle, server, &definitions)
                .map_err(py_error)
        })
    }

    /// Undoes one `register_agent` of `handle` (its session closed, or an
    /// idle registration was evicted); the last one frees the handle.
    fn release_agent(&self, handle: u32) -> PyResult<()> {
        guarded(|| {
            self.inner.release_agent(handle);
            Ok(())
        })
    }

    /// Decides a call, synchronously. An allowed call with nothing to
    /// report comes back as its ticket (an `int`, 0 when nothing is
    /// recorded); anything else as the outcome's JSON text. `track`: the
    /// call will be made, and `complete` will say how it ended.
    /// `request_state`: the call is a round of a multi-round call, sent
    /// again with the `requestState` an earlier round's answer gave (the
    /// core's `decide_round`: its record, or its refusal's, is linked).
    #[pyo3(signature = (handle, tool, args_json, track, request_state=None))]
    fn decide<'py>(
        &self,
        py: Python<'py>,
        handle: u32,
        tool: String,
        args_json: Option<String>,
        track: bool,
        request_state: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded(|| {
            let outcome = match request_state {
                None => self.inner.decide(handle, tool, args_json, track, false),
                Some(state) => self
                    .inner
                    .decide_round(handle, tool, args_json, track, false, state),
            }
            .map_err(py_error)?;
            Ok(match outcome.clean_ticket() {
                Some(ticket) => ticket.into_pyobject(py)?.into_any(),
                None => PyString::new(py, &outcome.to_json()).into_any(),
            })
        })
    }

    /// The shortcut of a call whose arguments the policies would not read:
    /// its ticket when the tool name alone decides it, allowed with nothing
    /// to report (`Governor::decide_by_tool`); else `None`, having counted
    /// and recorded nothing, and the host decides it with `decide`. The
    /// name is borrowed, not copied, on the way in.
    fn decide_by_tool(&self, handle: u32, tool: &str) -> PyResult<Option<u64>> {
        guarded(|| Ok(self.inner.decide_by_tool(handle, tool).ok()))
    }

    /// How the allowed call `ticket` ended, reported when it ended:
    /// `ending` 0 answered, 1 answered with `isError: true`, 2 threw.
    /// `text`: the answer's JSON text, or the message of what it threw.
    /// `error_type`: the name of the exception's class. `input`: the
    /// arguments' JSON text, for a call decided by `decide_by_tool`.
    /// Unknown tickets (0, or completed already) are ignored.
    #[pyo3(signature = (ticket, ending, text, error_type=None, input=None))]
    fn complete(
        &self,
        ticket: u64,
        ending: u8,
        text: Option<String>,
        error_type: Option<String>,
        input: Option<String>,
    ) -> PyResult<()> {
        guarded(|| {
            let mut completion = match ending {
                ANSWERED => Completion::answered(text),
                ANSWERED_IS_ERROR => Completion {
                    ending: Ending::AnsweredIsError,
                    ..Completion::answered(text)
                },
                THREW => Completion::threw(text, error_type),
                other => {
                    return Err(py_error(Error::invalid_argument(format!(
                        "complete: unknown ending {other}"
                    ))))
                }
            };
            completion.input = input.map(Into::into);
            self.inner.complete(ticket, completion);
            Ok(())
        })
    }

    /// The tracked call `ticket` was answered "input required" with
    /// `request_state`: the call sent again with it is its next round (the
    /// core's `open_next_round`). False: no such pending call.
    fn open_next_round(&self, ticket: u64, request_state: String) -> PyResult<bool> {
        guarded(|| Ok(self.inner.open_next_round(ticket, request_state)))
    }

    /// Calls `on_done(None)` from another thread when calls for this agent
    /// may be decided (after a `wait_for_sync` outcome); bounded by the
    /// first-sync timeout. Returns at once.
    fn wait_for_sync(&self, handle: u32, on_done: Py<PyAny>) -> PyResult<()> {
        guarded(|| {
            let inner = self.inner.clone();
            runner::spawn(
                &self.inner,
                async move { inner.wait_for_sync(handle).await },
                on_done,
                |py, ()| Ok(py.None()),
            );
            Ok(())
        })
    }

    /// Calls `on_done(outcome_json)` from another thread with the control
    /// plane's decision on the pending call `ticket` (after an `ask_server`
    /// outcome). `input` overrides the text view of the arguments.
    #[pyo3(signature = (ticket, input, on_done))]
    fn decide_remote(
        &self,
        ticket: u64,
        input: Option<String>,
        on_done: Py<PyAny>,
    ) -> PyResult<()> {
        guarded(|| {
            let inner = self.inner.clone();
            runner::spawn(
                &self.inner,
                async move { inner.decide_remote(ticket, input).await },
                on_done,
                |py, outcome: Outcome| {
                    Ok(PyString::new(py, &outcome.to_json()).into_any().unbind())
                },
            );
            Ok(())
        })
    }

    /// Whether the results of `handle`'s calls go to the control plane's
    /// `tool_output_scan` policies (`check_tool_output`).
    fn scans_tool_outputs(&self, handle: u32) -> bool {
        self.inner.scans_tool_outputs(handle)
    }

    /// Calls ``on_done`` with the outcome JSON of the scan of
    /// ``result_json`` (a CallToolResult), the answer of an allowed call.
    fn check_tool_output(
        &self,
        handle: u32,
        ticket: u64,
        tool: String,
        result_json: String,
        on_done: Py<PyAny>,
    ) -> PyResult<()> {
        guarded(|| {
            let inner = self.inner.clone();
            runner::spawn(
                &self.inner,
                async move {
                    inner
                        .check_tool_output(handle, ticket, &tool, &result_json)
                        .await
                },
                on_done,
                |py, outcome: Outcome| {
                    Ok(PyString::new(py, &outcome.to_json()).into_any().unbind())
                },
            );
            Ok(())
        })
    }

    /// The caller gave up on the pending call `ticket` (its task was
    /// cancelled while it waited for an approval): nothing more is sent
    /// for it, it is recorded as cancelled. False: no such pending call.
    fn cancel(&self, ticket: u64) -> PyResult<bool> {
        guarded(|| Ok(self.inner.cancel(ticket)))
    }

    /// The local approver's answer about a held call (an `ask_approver`
    /// outcome): `kind` is `approved`, `denied` (`text`: the reason),
    /// `failed` (`text`: why) or `timed_out`. Returns the outcome JSON.
    #[pyo3(signature = (ticket, kind, text=None))]
    fn settle_local_approval(
        &self,
        ticket: u64,
        kind: &str,
        text: Option<String>,
    ) -> PyResult<String> {
        guarded(|| {
            let verdict = match kind {
                "approved" => LocalVerdict::Approved,
                "denied" => LocalVerdict::Denied { reason: text },
                "timed_out" => LocalVerdict::TimedOut,
                // Anything else refuses, as the strictest.
                _ => LocalVerdict::Failed(
                    text.unwrap_or_else(|| format!("unknown verdict {kind:?}")),
                ),
            };
            Ok(self.inner.settle_local_approval(ticket, verdict).to_json())
        })
    }

    /// For each tool name of a listing, whether the agent's policies refuse
    /// it by name alone (the core's `refused_by_name`, which counts the
    /// refused ones as hidden): one crossing per listing.
    fn refused_by_name(&self, handle: u32, names: Vec<String>) -> PyResult<Vec<bool>> {
        guarded(|| self.inner.refused_by_name(handle, &names).map_err(py_error))
    }

    /// Records a call the host refused on a check of its own (the MCP
    /// integration's pinned tool definitions); `violations_json`: a JSON
    /// array of violations; `request_state`: as in `decide`. Returns the
    /// message to show. Only refused calls come here.
    #[pyo3(signature = (handle, tool, args_json, violations_json, request_state=None))]
    fn refuse_by_host(
        &self,
        handle: u32,
        tool: String,
        args_json: Option<String>,
        violations_json: &str,
        request_state: Option<&str>,
    ) -> PyResult<String> {
        guarded(|| {
            let violations = serde_json::from_str(violations_json)
                .map_err(|e| py_error(Error::invalid_argument(format!("violations: {e}"))))?;
            self.inner
                .refuse_by_host(handle, tool, args_json, violations, false, request_state)
                .map_err(py_error)
        })
    }

    /// Delivers buffered records; returns when the sinks have them, with
    /// what became of them as JSON text (`written`, `dropped`,
    /// `undelivered`). The GIL is released meanwhile.
    fn flush(&self, py: Python<'_>) -> PyResult<String> {
        let inner = self.inner.clone();
        py.detach(|| {
            let report = guarded(|| {
                runner::block_on(&self.inner, async move { inner.flush().await })
                    .map_err(py_error)
                    .and_then(report_json)
            });
            // The lines said so far reach `logging` before flush returns.
            log_bridge::wait_delivered(LOG_DELIVERY_WAIT);
            report
        })
    }

    /// Flushes (bounded by `timeout_ms`), stops background work and
    /// refuses further calls; returns the report as `flush` does. Safe to
    /// call twice. The GIL is released.
    fn shutdown(&self, py: Python<'_>, timeout_ms: u64) -> PyResult<String> {
        let inner = self.inner.clone();
        let timeout = Duration::from_millis(timeout_ms);
        py.detach(|| {
            let report = guarded(|| {
                runner::block_on(&self.inner, async move { inner.shutdown(timeout).await })
                    .map_err(py_error)
                    .and_then(report_json)
            });
            log_bridge::wait_delivered(LOG_DELIVERY_WAIT);
            report
        })
    }

    /// The counters, as JSON text (camelCase keys).
    fn stats(&self) -> PyResult<String> {
        guarded(|| {
            serde_json::to_string(&self.inner.stats())
                .map_err(|e| py_error(Error::new(ErrorKind::Internal, e.to_string())))
        })
    }

    /// Call in a forked child (`os.register_at_fork`): starts the core's
    /// background work again on a runtime of the child's own
    /// (`Governor::restart_after_fork`). False: nothing to restart.
    fn restart_after_fork(&self) -> PyResult<bool> {
        guarded(|| self.inner.restart_after_fork().map_err(py_error))
    }

    fn is_closed(&self) -> PyResult<bool> {
        guarded(|| Ok(self.inner.is_closed()))
    }

    /// Test only: a panic inside a method must become an ExeclaveError.
    fn _panic_for_test(&self) -> PyResult<()> {
        guarded(|| panic!("a deliberate panic (test)"))
    }

    /// Test only: a panic inside a future must reach `on_done` as an
    /// ExeclaveError.
    fn _panic_in_future_for_test(&self, on_done: Py<PyAny>) -> PyResult<()> {
        guarded(|| {
            runner::spawn(
                &self.inner,
                async { panic!("a deliberate panic in a future (test)") },
                on_done,
                |py, ()| Ok(py.None()),
            );
            Ok(())
        })
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeGovernor>()?;
    m.add_function(wrap_pyfunction!(wait_for_drains, m)?)?;
    m.add_function(wrap_pyfunction!(proxy::run_proxy, m)?)?;
    // The one version source is the Cargo workspace (issue 19).
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    tool_pins::register(m)?;
    Ok(())
}

/// A flush's or shutdown's report as JSON text.
fn report_json(report: execlave_core::records::report::FlushReport) -> PyResult<String> {
    serde_json::to_string(&report)
        .map_err(|e| py_error(Error::new(ErrorKind::Internal, e.to_string())))
}

/// How long `flush` and `shutdown` wait for the core's lines to reach
/// Python's `logging` (they are delivered on a thread of their own).
const LOG_DELIVERY_WAIT: Duration = Duration::from_secs(1);

/// Waits (the GIL released) up to `timeout_ms` for the background drains of
/// clients collected without `shutdown()`; returns how many still run.
#[pyfunction]
fn wait_for_drains(py: Python<'_>, timeout_ms: u64) -> usize {
    py.detach(|| execlave_core::lifetime::wait_for_drains(Duration::from_millis(timeout_ms)))
}
