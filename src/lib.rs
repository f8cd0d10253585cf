//! The napi binding: converts between JavaScript and the core's
//! [`Governor`]. No policy logic, no clock arithmetic, no decoding of what
//! calls did: the core has all of it, so the next binding has it too.
//!
//! Every export catches panics (`catch_unwind`, and the core's `run_async`
//! for futures): a bug in the core becomes an exception in JS, never an
//! abort of the user's process.

mod fast_path;
mod hot_call;
pub mod proxy;
pub mod tool_pins;

use execlave_core::engine::calls::decode_batch;
use execlave_core::engine::local_approval::LocalVerdict;
use execlave_core::log::{Level, LogSink};
use execlave_core::records::report::FlushReport;
use execlave_core::{clock, AgentHandle, ErrorKind, Governor, GovernorOptions};
use napi::bindgen_prelude::{Either, Float64Array, FnArgs, Function, Object, ToNapiValue};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Error, Result, Status};
use napi_derive::napi;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The core's error as a JS error. The JS layer makes every one an
/// `ExeclaveError`; the kind travels as the error's `code`, so that nothing
/// reads the text to tell kinds apart.
fn js_error(e: execlave_core::Error) -> Error {
    let status = match e.kind {
        ErrorKind::InvalidOptions | ErrorKind::InvalidPolicy | ErrorKind::InvalidArgument => {
            Status::InvalidArg
        }
        ErrorKind::Closed => Status::Closing,
        ErrorKind::Internal => Status::GenericFailure,
    };
    Error::new(status, e.message)
}

/// The JS `logger(level, line)` as the core's log sink: called from any
/// thread, queued to the JS thread, never blocking, and weak (a logger does
/// not keep the process alive).
fn log_sink(logger: Function<'_, FnArgs<(String, String)>, ()>) -> Result<LogSink> {
    let tsfn = logger
        .build_threadsafe_function::<FnArgs<(String, String)>>()
        .weak::<true>()
        .callee_handled::<false>()
        .build()?;
    Ok(LogSink(Arc::new(move |level: Level, line: &str| {
        let level = match level {
            Level::Error | Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug | Level::Trace => "debug",
        };
        tsfn.call(
            FnArgs::from((level.to_owned(), line.to_owned())),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    })))
}

/// Runs `future` on the core's runtime and returns a promise settled with
/// `to_js` of its result, or rejected with its error (a panic included).
fn promise<'env, T, F, V, R>(
    env: &'env Env,
    governor: &Governor,
    future: F,
    to_js: R,
) -> Result<Object<'env>>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    V: ToNapiValue + 'static,
    R: FnOnce(T) -> V + Send + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    governor.run_async(future, move |result| match result {
        Ok(value) => {
            let value = to_js(value);
            deferred.resolve(move |_env: Env| Ok(value))
        }
        Err(e) => deferred.reject(js_error(e)),
    });
    Ok(promise)
}

/// What a promise of nothing resolves with.
fn no_value(_: ()) {}

/// A flush's or shutdown's report, as `{ written, dropped, undelivered }`.
fn report_value(report: FlushReport) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or_default()
}

/// The native side of one `Execlave` client.
#[napi]
pub struct NativeGovernor {
    inner: Governor,
    /// This governor's agent slots (see `fast_path`), freed with it.
    slots: Mutex<HashSet<u32>>,
}

impl NativeGovernor {
    fn handle(&self, slot: u32) -> Result<AgentHandle> {
        let ours = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&slot);
        ours.then(|| fast_path::handle(slot))
            .flatten()
            .ok_or_else(|| {
                js_error(execlave_core::Error::invalid_argument(format!(
                    "unknown agent handle {slot}"
                )))
            })
    }
}

impl Drop for NativeGovernor {
    fn drop(&mut self) {
        let slots = self.slots.get_mut().unwrap_or_else(|e| e.into_inner());
        fast_path::remove_slots(slots.iter().copied());
    }
}

#[napi]
impl NativeGovernor {
    /// `options_json`: the client's options as JSON (callbacks stay in JS).
    /// `logger(level, line)`, when given, receives the core's diagnostics
    /// (`level`: "warn", "info" or "debug"); without it they go to stderr.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        options_json: String,
        logger: Option<Function<'_, FnArgs<(String, String)>, ()>>,
    ) -> Result<Self> {
        let mut options = GovernorOptions::from_json(&options_json).map_err(js_error)?;
        options.log_sink = logger.map(log_sink).transpose()?;
        let inner = Governor::new(options).map_err(js_error)?;
        Ok(Self {
            inner,
            slots: Mutex::default(),
        })
    }

    /// Returns the agent's slot: the handle `decide`, `decideByTool` and
    /// `waitForSync` take.
    #[napi(catch_unwind)]
    pub fn register_agent(
        &self,
        agent_id: String,
        session_id: Option<String>,
        user_id: Option<String>,
        enforce: bool,
    ) -> Result<u32> {
        let handle = self
            .inner
            .register_agent(
                &agent_id,
                session_id.as_deref(),
                user_id.as_deref(),
                enforce,
            )
            .map_err(js_error)?;
        let Some(slot) = fast_path::add_slot(self.inner.clone(), handle) else {
            self.inner.release_agent(handle);
            return Err(js_error(execlave_core::Error::invalid_argument(
                "too many agent registrations in use on this thread; release some (close \
                 wrapped clients) first",
            )));
        };
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.insert(slot);
        Ok(slot)
    }

    /// The tools `server` listed to the wrapped client of `slot`
    /// (`toolPins`): `definitions` are their pinned fields as JSON text
    /// (null: unreadable). See the core's `set_tool_descriptors`.
    #[napi(catch_unwind)]
    pub fn set_tool_descriptors(
        &self,
        slot: u32,
        server: String,
        definitions: Vec<Option<String>>,
    ) -> Result<()> {
        let Some(handle) = fast_path::handle(slot) else {
            return Ok(()); // released: nothing to send for it any more
        };
        self.inner
            .set_tool_descriptors(handle, &server, &definitions)
            .map_err(js_error)
    }

    /// Releases a slot from `registerAgent` (its wrapped client closed):
    /// the slot, and with its last registration the core's handle, are
    /// freed. An unknown or already released slot is ignored.
    #[napi(catch_unwind)]
    pub fn release_agent(&self, slot: u32) {
        let ours = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&slot);
        if !ours {
            return;
        }
        if let Some(handle) = fast_path::handle(slot) {
            self.inner.release_agent(handle);
        }
        fast_path::remove_slots([slot]);
    }

    /// How allowed calls ended, several at a time, in the order they
    /// ended (the core's `decode_batch` says how the arguments are laid
    /// out): one crossing with many runs hot where one per call runs with
    /// cold caches (measured: ~10 µs per call inside MCP traffic, against
    /// ~2 µs batched), and the record texts of the whole batch cross as one
    /// string. `clock_offset_ms`: `clockMs()` minus `performance.now()`,
    /// read side by side.
    #[napi(catch_unwind)]
    pub fn complete_batch(
        &self,
        numbers: Float64Array,
        texts_json: String,
        thrown: Vec<String>,
        clock_offset_ms: f64,
    ) -> Result<()> {
        let completions =
            decode_batch(&numbers, texts_json, thrown, clock_offset_ms).map_err(js_error)?;
        self.inner.complete_many(completions);
        Ok(())
    }

    /// For each tool name of a listing, whether the agent's policies refuse
    /// it by name alone (the core's `refused_by_name`): one crossing per
    /// listing.
    #[napi(catch_unwind)]
    pub fn refused_by_name(&self, handle: u32, names: Vec<String>) -> Result<Vec<bool>> {
        self.inner
            .refused_by_name(self.handle(handle)?, &names)
            .map_err(js_error)
    }

    /// Records a call the host refused on a check of its own (the MCP
    /// wrapper's pinned tool definitions); `violations_json`: a JSON
    /// array of violations; `request_state`: the call is a round sent
    /// again with it (its record is linked, see `decide`). Returns the
    /// message to show. Not on the hot path: only refused calls come here.
    #[napi(catch_unwind)]
    pub fn refuse_by_host(
        &self,
        handle: u32,
        tool: String,
        args_json: Option<String>,
        violations_json: String,
        completions_owed: bool,
        request_state: Option<String>,
    ) -> Result<String> {
        let violations = serde_json::from_str(&violations_json).map_err(|e| {
            js_error(execlave_core::Error::invalid_argument(format!(
                "violations: {e}"
            )))
        })?;
        self.inner
            .refuse_by_host(
                self.handle(handle)?,
                tool,
                args_json,
                violations,
                completions_owed,
                request_state.as_deref(),
            )
            .map_err(js_error)
    }

    /// A tracked call was answered "input required" with this
    /// `requestState`: the call sent again with it is its next round (the
    /// core's `open_next_round`). Only multi-round calls come here.
    #[napi(catch_unwind)]
    pub fn open_next_round(&self, ticket: f64, request_state: String) -> bool {
        self.inner.open_next_round(ticket as u64, request_state)
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self.inner.stats())
            .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    // The async methods below hand the core a future that owns a clone of
    // the governor (an `Arc`) rather than borrowing `self` across an await:
    // a worker thread that is terminated mid-call tears its environment
    // down and frees `self` while the future still runs.

    /// Resolves when calls for this agent may be decided (after a
    /// `wait_for_sync` outcome); bounded by the first-sync timeout.
    #[napi(ts_return_type = "Promise<void>", catch_unwind)]
    pub fn wait_for_sync<'env>(&self, env: &'env Env, handle: u32) -> Result<Object<'env>> {
        let (inner, handle) = (self.inner.clone(), self.handle(handle)?);
        promise(
            env,
            &self.inner,
            async move { inner.wait_for_sync(handle).await },
            no_value,
        )
    }

    /// The control plane's decision on a pending call (after an
    /// `ask_server` outcome), as outcome JSON.
    #[napi(ts_return_type = "Promise<string>", catch_unwind)]
    pub fn decide_remote<'env>(
        &self,
        env: &'env Env,
        ticket: f64,
        input: Option<String>,
    ) -> Result<Object<'env>> {
        let inner = self.inner.clone();
        let future = async move { inner.decide_remote(ticket as u64, input).await };
        promise(env, &self.inner, future, |outcome| outcome.to_json())
    }

    /// Whether the results of this slot's calls go to the control plane's
    /// `tool_output_scan` policies (`checkToolOutput`).
    #[napi(catch_unwind)]
    pub fn scans_tool_outputs(&self, slot: u32) -> bool {
        fast_path::handle(slot).is_some_and(|h| self.inner.scans_tool_outputs(h))
    }

    /// Resolves with the outcome JSON of the scan of `result_json` (a
    /// `CallToolResult`), the answer of an allowed call of `tool`.
    #[napi(catch_unwind)]
    pub fn check_tool_output<'env>(
        &self,
        env: &'env Env,
        slot: u32,
        ticket: f64,
        tool: String,
        result_json: String,
    ) -> Result<Object<'env>> {
        let inner = self.inner.clone();
        let handle = fast_path::handle(slot);
        let future = async move {
            match handle {
                Some(h) => {
                    inner
                        .check_tool_output(h, ticket as u64, &tool, &result_json)
                        .await
                }
                None => execlave_core::Outcome::Closed,
            }
        };
        promise(env, &self.inner, future, |outcome| outcome.to_json())
    }

    /// The caller gave up on a pending call waiting for an approval: its
    /// `decideRemote` resolves `cancelled`, nothing more is sent for it.
    #[napi(catch_unwind)]
    pub fn cancel(&self, ticket: f64) -> bool {
        self.inner.cancel(ticket as u64)
    }

    /// The local approver's answer about a held call (an `ask_approver`
    /// outcome): `kind` is `approved`, `denied` (`text`: the reason),
    /// `failed` (`text`: why) or `timed_out`. Returns the outcome JSON.
    #[napi(catch_unwind)]
    pub fn settle_local_approval(
        &self,
        ticket: f64,
        kind: String,
        text: Option<String>,
    ) -> Result<String> {
        let verdict = match kind.as_str() {
            "approved" => LocalVerdict::Approved,
            "denied" => LocalVerdict::Denied { reason: text },
            "timed_out" => LocalVerdict::TimedOut,
            // Anything else refuses, as the strictest.
            _ => LocalVerdict::Failed(text.unwrap_or_else(|| format!("unknown verdict {kind:?}"))),
        };
        Ok(self
            .inner
            .settle_local_approval(ticket as u64, verdict)
            .to_json())
    }

    #[napi(ts_return_type = "Promise<FlushReport>", catch_unwind)]
    pub fn flush<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let inner = self.inner.clone();
        promise(
            env,
            &self.inner,
            async move { inner.flush().await },
            report_value,
        )
    }

    #[napi(ts_return_type = "Promise<FlushReport>", catch_unwind)]
    pub fn shutdown<'env>(&self, env: &'env Env, timeout_ms: u32) -> Result<Object<'env>> {
        let inner = self.inner.clone();
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        promise(
            env,
            &self.inner,
            async move { inner.shutdown(timeout).await },
            report_value,
        )
    }

    /// Test only (hidden from the types): a future that panics on the
    /// core's runtime, to prove the promise is rejected rather than the
    /// process aborted.
    #[napi(js_name = "__panicInFuture", skip_typescript, catch_unwind)]
    pub fn panic_in_future<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        promise(
            env,
            &self.inner,
            async { panic!("a deliberate panic in a future (test)") },
            no_value,
        )
    }
}

/// Test only (hidden from the types): panics, to prove that a panic in an
/// export becomes a JS exception rather than an abort of the process.
#[napi(js_name = "__panic", skip_typescript, catch_unwind)]
pub fn panic_for_test() -> Result<()> {
    panic!("a deliberate panic (test)")
}

/// Decides a call. The tool is named by its id (see `toolId`), or by
/// `tool` when its id is 0. An allowed call with nothing to report comes
/// back as a bare ticket number (no object to build); anything else as the
/// outcome's JSON text, with the message to show when it stops the call.
/// `completions_owed`: JS still queues completions of earlier calls; a
/// refusal's record then waits for them (the core's record order).
/// `request_state`: the call is a round of a multi-round call, sent again
/// with the `requestState` an earlier round's answer gave (the core's
/// `decide_round`); absent for any other call. A plain function, not a
/// method: see `fast_path`.
#[napi(catch_unwind)]
pub fn decide(
    handle: u32,
    tool_id: u32,
    tool: Option<String>,
    args_json: Option<String>,
    track: bool,
    completions_owed: bool,
    request_state: Option<String>,
) -> Result<Either<f64, String>> {
    let outcome = fast_path::decide(
        handle,
        tool_id,
        tool,
        args_json,
        track,
        completions_owed,
        request_state,
    )
    .map_err(js_error)?;
    Ok(match outcome.clean_ticket() {
        Some(ticket) => Either::A(ticket as f64),
        None => Either::B(outcome.to_json()),
    })
}

/// What `decideValues` takes for calls of a tool by one agent (see
/// `hot_call`): the plan's id, and where each value is in the arguments.
#[napi(object)]
pub struct JsArgumentPlan {
    /// The plan's id; `decideValues` answers "stale" once it changed.
    pub id: f64,
    /// Per value: the pointer's tokens, unescaped.
    pub tokens: Vec<Vec<String>>,
    /// Per value: a plain key, read from an arguments object only (a JSON
    /// Pointer also indexes arrays).
    pub object_only: Vec<bool>,
}

/// The values plan of a tool (by id) for an agent slot; null when either
/// is unknown, or the plan reads more values than `decideValues` takes.
#[napi(catch_unwind)]
pub fn argument_plan(handle: u32, tool_id: u32) -> Option<JsArgumentPlan> {
    let plan = fast_path::argument_plan(handle, tool_id)?;
    if plan.lookups.len() > hot_call::MAX_VALUES {
        return None;
    }
    Some(JsArgumentPlan {
        id: plan.id as f64,
        object_only: plan.lookups.iter().map(|l| l.object_only).collect(),
        tokens: plan.lookups.into_iter().map(|l| l.tokens).collect(),
    })
}

/// Module setup: the hot path, `decideByTool`, is registered here (see
/// `hot_call`).
#[napi(module_exports)]
pub fn register_hot_call(mut exports: napi::bindgen_prelude::Object, env: napi::Env) -> Result<()> {
    // Start the clock before any call can be timed on it.
    clock::start();
    hot_call::register(&mut exports, &env)
}

/// The core's clock, in milliseconds since it started. JS reads it next to
/// `performance.now()` to place the instants it noted on it
/// (`completeBatch`).
/// For the exit hook (lib/client.js): shuts down every client of this
/// thread still open, delivering its records within `timeout_ms`
/// (blocking), and waits for the background drains of dropped ones.
#[napi(catch_unwind)]
pub fn drain_at_exit(timeout_ms: u32) -> serde_json::Value {
    let report = execlave_core::lifetime::drain_all_blocking(
        Duration::from_millis(u64::from(timeout_ms)),
        true,
    );
    report_value(report)
}

/// Background drains of dropped clients still under way after waiting
/// `timeout_ms` for them.
#[napi(catch_unwind)]
pub fn wait_for_drains(timeout_ms: u32) -> u32 {
    let left =
        execlave_core::lifetime::wait_for_drains(Duration::from_millis(u64::from(timeout_ms)));
    u32::try_from(left).unwrap_or(u32::MAX)
}

#[napi(catch_unwind)]
pub fn clock_ms() -> f64 {
    clock::now_ms()
}

/// The id `decideByTool` takes for a tool name (cached by JS), or 0 when
/// the name cannot be interned (too long, or too many names already).
#[napi(catch_unwind)]
pub fn tool_id(name: String) -> u32 {
    fast_path::tool_id(&name)
}
