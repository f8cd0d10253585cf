//! The napi binding: marshals between JavaScript and the core's
//! [`Governor`]. No policy logic lives here.

mod fast_path;
mod hot_call;

use execlave_core::{AgentHandle, Completion, Governor, GovernorOptions, Outcome};
use napi::bindgen_prelude::{Either, Float64Array, PromiseRaw};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

fn js_error(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}

/// The native side of one `Execlave` client.
#[napi]
pub struct NativeGovernor {
    inner: Governor,
    /// This governor's agent slots (see `fast_path`), freed with it.
    slots: Mutex<Vec<u32>>,
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
            .ok_or_else(|| js_error(format!("unknown agent handle {slot}")))
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
    #[napi(constructor)]
    pub fn new(options_json: String) -> Result<Self> {
        let options = GovernorOptions::from_json(&options_json).map_err(js_error)?;
        let inner = Governor::new(options).map_err(js_error)?;
        Ok(Self {
            inner,
            slots: Mutex::default(),
        })
    }

    /// Returns the agent's slot: the handle `decide`, `decideByTool` and
    /// `waitForSync` take.
    #[napi]
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
        let slot = fast_path::add_slot(self.inner.clone(), handle);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.push(slot);
        Ok(slot)
    }

    /// How allowed calls ended, in the order they ended, several at a time:
    /// the JS layer queues completions and hands them over in batches (at
    /// 64, at the next turn of the event loop, or when a refusal is waiting
    /// for them), because one crossing with many runs hot where one per
    /// call runs with cold caches (measured: ~10 µs per call inside MCP
    /// traffic, against ~2 µs batched).
    /// `numbers` holds three per call: ticket, when it ended (JS's
    /// `performance.now()`), and how (0 answered, 1 answered with
    /// `isError: true`, 2 threw). `clock_offset_ms` turns those instants
    /// into `clockMs()` time (see there). `texts` holds one per call: the
    /// result's JSON text, or for a call that threw its error message.
    /// `inputs` holds one per call: its arguments' JSON text (used when the
    /// decision was made without them). `error_types` holds one per call
    /// that threw, in order.
    #[napi]
    pub fn complete_batch(
        &self,
        numbers: Float64Array,
        texts: Vec<Option<String>>,
        inputs: Vec<Option<String>>,
        error_types: Vec<String>,
        clock_offset_ms: f64,
    ) -> Result<()> {
        let now = Instant::now();
        // Nonsense (NaN, before the clock's start, the future) counts as now.
        let ended_at = |ended_ms: f64| {
            let since_start = Duration::try_from_secs_f64((ended_ms + clock_offset_ms) / 1000.0);
            Some(since_start.map_or(now, |d| (*CLOCK_START + d).min(now)))
        };
        if numbers.len() != texts.len() * 3 {
            return Err(js_error(format!(
                "completeBatch: {} numbers for {} texts (three per call expected)",
                numbers.len(),
                texts.len()
            )));
        }
        if inputs.len() != texts.len() {
            return Err(js_error(format!(
                "completeBatch: {} inputs for {} texts (one per call expected)",
                inputs.len(),
                texts.len()
            )));
        }
        let mut error_types = error_types.into_iter();
        let calls = numbers.chunks_exact(3).zip(texts).zip(inputs);
        let completions = calls.map(|((n, text), input)| {
            let (ticket, ended_at, ending) = (n[0] as u64, ended_at(n[1]), n[2]);
            let completion = if ending == 2.0 {
                Completion {
                    ended_at,
                    failed: true,
                    output: None,
                    error_message: text,
                    error_type: error_types.next(),
                    input,
                }
            } else {
                let is_error = ending == 1.0;
                Completion {
                    ended_at,
                    failed: is_error,
                    output: text,
                    error_message: is_error.then(|| "tool returned isError: true".into()),
                    error_type: None,
                    input,
                }
            };
            (ticket, completion)
        });
        self.inner.complete_many(completions);
        Ok(())
    }

    #[napi]
    pub fn stats(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self.inner.stats()).map_err(|e| js_error(e.to_string()))
    }

    // The async methods below own a clone of the governor (an `Arc`)
    // rather than borrowing `self` across an await: a worker thread that is
    // terminated mid-call tears its environment down and frees `self` while
    // the future still runs on the shared tokio runtime.

    /// Resolves when calls for this agent may be decided (after a
    /// `wait_for_sync` outcome); bounded by the first-sync timeout.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn wait_for_sync<'env>(&self, env: &'env Env, handle: u32) -> Result<PromiseRaw<'env, ()>> {
        let (inner, handle) = (self.inner.clone(), self.handle(handle)?);
        env.spawn_future(async move {
            inner.wait_for_sync(handle).await;
            Ok(())
        })
    }

    /// The control plane's decision on a pending call (after an
    /// `ask_server` outcome), as outcome JSON.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn decide_remote<'env>(
        &self,
        env: &'env Env,
        ticket: f64,
        input: Option<String>,
    ) -> Result<PromiseRaw<'env, String>> {
        let inner = self.inner.clone();
        env.spawn_future(async move {
            let outcome = inner.decide_remote(ticket as u64, input).await;
            Ok(outcome_json(&outcome))
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        env.spawn_future(async move {
            inner.flush().await;
            Ok(())
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env, timeout_ms: u32) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        env.spawn_future(async move {
            inner
                .shutdown(Duration::from_millis(u64::from(timeout_ms)))
                .await;
            Ok(())
        })
    }
}

/// Decides a call. The tool is named by its id (see `toolId`), or by
/// `tool` when its id is 0. An allowed call with nothing to report comes
/// back as a bare ticket number (no object to build); anything else as the
/// outcome's JSON text. `completions_owed`: JS still queues completions of
/// earlier calls; a refusal's record then waits for them (see
/// `completeBatch`). A plain function, not a method: see `fast_path`.
#[napi]
pub fn decide(
    handle: u32,
    tool_id: u32,
    tool: Option<String>,
    args_json: Option<String>,
    track: bool,
    completions_owed: bool,
) -> Result<Either<f64, String>> {
    let outcome = fast_path::decide(handle, tool_id, tool, args_json, track, completions_owed)
        .map_err(js_error)?;
    Ok(match outcome.clean_ticket() {
        Some(ticket) => Either::A(ticket as f64),
        None => Either::B(outcome_json(&outcome)),
    })
}

/// Module setup: the hot path, `decideByTool`, is registered here (see
/// `hot_call`).
#[napi(module_exports)]
pub fn register_hot_call(mut exports: napi::bindgen_prelude::Object, env: napi::Env) -> Result<()> {
    // Start the clock before any call can be timed on it.
    LazyLock::force(&CLOCK_START);
    hot_call::register(&mut exports, &env)
}

/// The clock calls are timed on, in milliseconds since it started: the
/// core's monotonic clock. JS reads it next to `performance.now()` to turn
/// the instants it noted into this clock's (`completeBatch`), so that a
/// call's duration runs from its decision, taken here, to its answer.
#[napi]
pub fn clock_ms() -> f64 {
    CLOCK_START.elapsed().as_secs_f64() * 1000.0
}

static CLOCK_START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The id `decideByTool` takes for a tool name (cached by JS), or 0 when
/// the name cannot be interned (too long, or too many names already).
#[napi]
pub fn tool_id(name: String) -> u32 {
    fast_path::tool_id(&name)
}

fn outcome_json(outcome: &Outcome) -> String {
    serde_json::to_string(outcome).unwrap_or_else(|e| {
        // Serialising our own enum cannot fail in practice; if it ever did,
        // the JS side must refuse the call rather than guess.
        serde_json::json!({
            "kind": "unavailable",
            "reason": format!("internal error: {e}"),
            "consecutiveFailures": 0
        })
        .to_string()
    })
}
