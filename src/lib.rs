//! The napi binding: marshals between JavaScript and the core's
//! [`Governor`]. No policy logic lives here.

use execlave_core::{Completion, Governor, GovernorOptions, Outcome};
use napi::bindgen_prelude::Either;
use napi::{Error, Result, Status};
use napi_derive::napi;
use std::time::Duration;

fn js_error(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}

/// The native side of one `Execlave` client.
#[napi]
pub struct NativeGovernor {
    inner: Governor,
}

#[napi]
impl NativeGovernor {
    /// `options_json`: the client's options as JSON (callbacks stay in JS).
    #[napi(constructor)]
    pub fn new(options_json: String) -> Result<Self> {
        let options = GovernorOptions::from_json(&options_json).map_err(js_error)?;
        let inner = Governor::new(options).map_err(js_error)?;
        Ok(Self { inner })
    }

    #[napi]
    pub fn register_agent(
        &self,
        agent_id: String,
        session_id: Option<String>,
        user_id: Option<String>,
        enforce: bool,
    ) -> Result<u32> {
        self.inner
            .register_agent(
                &agent_id,
                session_id.as_deref(),
                user_id.as_deref(),
                enforce,
            )
            .map_err(js_error)
    }

    /// The hot path. An allowed call with nothing to report comes back as a
    /// bare ticket number (no object to build); anything else as the
    /// outcome's JSON text.
    #[napi]
    pub fn decide(
        &self,
        handle: u32,
        tool: String,
        args_json: Option<String>,
        track: bool,
    ) -> Result<Either<f64, String>> {
        let outcome = self
            .inner
            .decide(handle, tool, args_json, track)
            .map_err(js_error)?;
        Ok(match outcome.clean_ticket() {
            Some(ticket) => Either::A(ticket as f64),
            None => Either::B(outcome_json(&outcome)),
        })
    }

    #[napi]
    pub fn complete(
        &self,
        ticket: f64,
        failed: bool,
        output: Option<String>,
        error_message: Option<String>,
        error_type: Option<String>,
    ) {
        self.inner.complete(
            ticket as u64,
            Completion {
                failed,
                output,
                error_message,
                error_type,
            },
        );
    }

    #[napi]
    pub fn stats(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self.inner.stats()).map_err(|e| js_error(e.to_string()))
    }

    /// Resolves when calls for this agent may be decided (after a
    /// `wait_for_sync` outcome); bounded by the first-sync timeout.
    #[napi]
    pub async fn wait_for_sync(&self, handle: u32) -> Result<()> {
        self.inner.wait_for_sync(handle).await;
        Ok(())
    }

    /// The control plane's decision on a pending call (after an
    /// `ask_server` outcome), as outcome JSON.
    #[napi]
    pub async fn decide_remote(&self, ticket: f64, input: Option<String>) -> Result<String> {
        let outcome = self.inner.decide_remote(ticket as u64, input).await;
        Ok(outcome_json(&outcome))
    }

    #[napi]
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await;
        Ok(())
    }

    #[napi]
    pub async fn shutdown(&self, timeout_ms: u32) -> Result<()> {
        self.inner
            .shutdown(Duration::from_millis(u64::from(timeout_ms)))
            .await;
        Ok(())
    }
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

// Records are allocated on the JS thread (in `complete`) and freed on the
// delivery thread. glibc's malloc handles that cross-thread pattern badly
// (arena locking, `malloc_consolidate` on the JS thread): measured through
// MCP, it cost more than the rest of the governed call. mimalloc frees
// cross-thread allocations through per-page lists instead. It is vendored C
// (built by the `cc` crate, like ring's), so no system library is needed.
// Only this addon's Rust allocations use it; Node's own heap is untouched.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
