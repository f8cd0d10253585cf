//! The governor: one per client, a facade over the parts. It builds them
//! from the options (engine, record pipeline and sinks, control-plane
//! connection, sync loops), owns the one async runtime they run on, and
//! hands a binding's futures to that runtime.

use crate::background::{spawn_background, start_runtime, BackgroundSettings};
use crate::clock;
use crate::control_plane::{
    ApiClient, ApiConfig, CircuitBreaker, Connection, DEFAULT_FAILURE_THRESHOLD,
};
use crate::decision::Violation;
use crate::engine::agents::{AgentHandle, Agents};
use crate::engine::calls::{Calls, Completion};
use crate::engine::policy_store::PolicyStore;
use crate::engine::{Engine, EngineSettings, Outcome, Ticket, Undecided};
use crate::error::{Error, ErrorKind};
use crate::log::Logger;
use crate::options::{GovernorOptions, PolicyInput};
use crate::policy::{load_path, ControlPlane, PolicySet, SourcedPolicy};
use crate::policy::{ArgumentPlan, ArgumentValue};
use crate::records::audit_log::AuditLog;
use crate::records::pipeline::Pipeline;
use crate::records::sinks_for;
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::policies::adopt_cache;
use futures_util::FutureExt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

struct Shared {
    engine: Engine,
    /// The one runtime of this governor: HTTP, sync loops, record delivery
    /// and the bindings' async calls. `None` when nothing needs it (local
    /// mode without an audit log: nothing waits, nothing runs in the
    /// background) and after `shutdown`.
    runtime: Mutex<Option<Runtime>>,
    /// To start the background loops again in a forked child.
    background: BackgroundSettings,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropping a runtime from inside one of its own threads (the last
        // clone may live in a future) panics; shutting it down in the
        // background is safe from anywhere.
        if let Some(rt) = self.runtime.get_mut().ok().and_then(Option::take) {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct Governor {
    shared: Arc<Shared>,
}

impl Governor {
    pub fn new(options: GovernorOptions) -> Result<Self, Error> {
        options.validate().map_err(Error::invalid_options)?;
        clock::start();
        let policies = match &options.policies {
            None => PolicySet::empty(),
            Some(input) => {
                let sourced = load_policy_input(input)?;
                let control_plane = if options.is_local_only() {
                    ControlPlane::Absent
                } else {
                    ControlPlane::Present
                };
                PolicySet::compile_strict_with(&sourced, control_plane)
                    .map_err(|e| Error::new(ErrorKind::InvalidPolicy, e.to_string()))?
            }
        };
        let audit_log = options
            .audit_log
            .as_deref()
            .map(AuditLog::open)
            .transpose()
            .map_err(Error::invalid_options)?;
        let log = Arc::new(Logger::new(options.debug, options.api_key.clone()));
        let stats = Arc::new(Stats::default());
        let connection = match &options.api_key {
            None => None,
            Some(key) => {
                let mut config = ApiConfig::new(options.base_url(), key.clone());
                config.sign_requests = options.sign_requests;
                config.request_timeout = Duration::from_millis(options.request_timeout_ms.max(1));
                let api = ApiClient::new(config).map_err(Error::invalid_options)?;
                let breaker = CircuitBreaker::new(
                    DEFAULT_FAILURE_THRESHOLD,
                    Duration::from_millis(options.circuit_breaker_cooldown_ms),
                );
                Some(Arc::new(Connection::new(api, breaker, log.clone())))
            }
        };
        let needs_runtime = audit_log.is_some() || connection.is_some();
        let runtime = needs_runtime.then(start_runtime).transpose()?;
        let background = BackgroundSettings {
            cache_path: options.policy_cache_path.clone(),
            refresh: Duration::from_millis(options.policy_refresh_ms.max(10)),
            poll_interval: Duration::from_millis(options.poll_interval_ms.max(10)),
        };
        let sinks = sinks_for(audit_log, connection.as_ref(), &log);
        let records = (!sinks.is_empty()).then(|| {
            Arc::new(Pipeline::new(
                sinks,
                options.buffer_size,
                options.batch_size,
                Duration::from_millis(options.flush_interval_ms()),
                options.environment.clone(),
                stats.clone(),
                log.clone(),
            ))
        });
        let store = Arc::new(PolicyStore::new(policies, options.api_key.is_none()));
        if let (Some(path), Some(_)) = (&options.policy_cache_path, &connection) {
            adopt_cache(&store, path, &log, &stats);
        }
        let agents = Arc::new(Agents::default());
        let progress = Arc::new(Notify::new());
        log.debug(|| {
            format!(
                "started in {} mode with {} policies",
                if options.is_local_only() {
                    "local"
                } else {
                    "control-plane"
                },
                store.current().len()
            )
        });
        let settings = EngineSettings {
            enforcement: options.enforcement,
            on_outage: options.enforcement_on_outage,
            first_sync_timeout: Duration::from_millis(options.first_sync_timeout_ms),
            environment: options.environment.clone(),
        };
        let engine = Engine::new(
            settings,
            store,
            agents,
            Calls::new(options.max_pending_calls),
            records,
            connection,
            stats,
            log,
            progress,
        );
        if let Some(rt) = &runtime {
            spawn_background(&engine, &background, rt);
        }
        Ok(Governor {
            shared: Arc::new(Shared {
                engine,
                runtime: Mutex::new(runtime),
                background,
            }),
        })
    }

    fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    pub fn stats(&self) -> StatsSnapshot {
        let e = self.engine();
        let mut s = e.stats.snapshot();
        s.records_dropped += e.records.as_ref().map_or(0, |p| p.dropped());
        s.registrations = e.agents.registrations() as u64;
        s
    }

    pub fn is_closed(&self) -> bool {
        self.engine().is_closed()
    }

    /// Registers who calls are made for; the handle is what `decide` takes.
    pub fn register_agent(
        &self,
        agent_id: &str,
        session_id: Option<&str>,
        user_id: Option<&str>,
        enforce: bool,
    ) -> Result<AgentHandle, Error> {
        self.engine()
            .agents
            .register(agent_id, session_id, user_id, enforce)
    }

    /// Undoes one `register_agent` of `handle` (its client closed); the
    /// last one frees the handle, which may then be given out again.
    pub fn release_agent(&self, handle: AgentHandle) {
        self.engine().agents.release(handle);
    }

    /// See [`Engine::decide`].
    pub fn decide(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        track: bool,
        completions_owed: bool,
    ) -> Result<Outcome, Error> {
        self.engine()
            .decide(handle, tool, args_json, track, completions_owed)
    }

    /// See [`Engine::decide_round`]: a call sent again with the
    /// `requestState` an earlier round's answer gave.
    pub fn decide_round(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        track: bool,
        completions_owed: bool,
        request_state: &str,
    ) -> Result<Outcome, Error> {
        self.engine().decide_round(
            handle,
            tool,
            args_json,
            track,
            completions_owed,
            Some(request_state),
        )
    }

    /// See [`Engine::refuse_by_host`].
    pub fn refuse_by_host(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        violations: Vec<Violation>,
        completions_owed: bool,
        request_state: Option<&str>,
    ) -> Result<String, Error> {
        self.engine().refuse_by_host(
            handle,
            tool,
            args_json,
            violations,
            completions_owed,
            request_state,
        )
    }

    /// A tracked call was answered "input required" with `request_state`
    /// (a multi-round call): the call sent again with it is its next
    /// round (see [`Governor::decide_round`]), and the records of the
    /// rounds are linked. False: no such pending call (ticket 0, or
    /// already completed).
    pub fn open_next_round(&self, ticket: Ticket, request_state: String) -> bool {
        self.engine().open_next_round(ticket, request_state)
    }

    /// See [`Engine::decide_by_tool`].
    pub fn decide_by_tool(&self, handle: AgentHandle, tool: &str) -> Result<Ticket, Undecided> {
        self.engine().decide_by_tool(handle, tool)
    }

    /// See [`Engine::argument_plan`].
    pub fn argument_plan(&self, handle: AgentHandle, tool: &str) -> Option<ArgumentPlan> {
        self.engine().argument_plan(handle, tool)
    }

    /// See [`Engine::decide_values`].
    pub fn decide_values(
        &self,
        handle: AgentHandle,
        tool: &str,
        plan_id: u64,
        values: &[ArgumentValue],
    ) -> Result<Ticket, Undecided> {
        self.engine().decide_values(handle, tool, plan_id, values)
    }

    /// See [`Engine::refused_by_name`].
    pub fn refused_by_name(
        &self,
        handle: AgentHandle,
        names: &[String],
    ) -> Result<Vec<bool>, Error> {
        self.engine().refused_by_name(handle, names)
    }

    /// Reports how an allowed call ended. Unknown tickets (0, or already
    /// completed) are ignored: completing twice must not record twice.
    pub fn complete(&self, ticket: Ticket, completion: Completion) {
        self.complete_many([(ticket, completion)]);
    }

    /// Reports how several calls ended, in the order given, taking each
    /// shared lock once: a host on a hot path hands completions over in
    /// batches rather than crossing into the core once per call.
    pub fn complete_many(&self, completions: impl IntoIterator<Item = (Ticket, Completion)>) {
        self.engine().complete_many(completions);
    }

    /// Resolves when calls for this agent may be decided (after a
    /// `WaitForSync` outcome); never later than the first-sync timeout.
    pub async fn wait_for_sync(&self, handle: AgentHandle) {
        if !self.is_closed() {
            self.engine().wait_for_sync(handle).await;
        }
    }

    /// Asks the control plane about the pending call `ticket` (from an
    /// `AskServer` outcome). `input` overrides the text view of the
    /// arguments (`enforcePolicy({ input })`).
    pub async fn decide_remote(&self, ticket: Ticket, input: Option<String>) -> Outcome {
        let e = self.engine();
        if self.is_closed() {
            return Outcome::Closed;
        }
        let (Some(c), Some(request)) = (&e.connection, e.remote_request(ticket, input)) else {
            return Outcome::Unavailable {
                reason: format!("no pending call {ticket} to decide"),
                consecutive_failures: 0,
            };
        };
        // Shutdown never allows: a request cut short by it, or answered
        // after it, is no outage that `fail_open` could let through.
        let verdict = tokio::select! {
            verdict = crate::sync::remote::ask(c, &e.log, &request) => Some(verdict),
            _ = e.closing() => None,
        };
        match verdict {
            Some(verdict) if !self.is_closed() => e.apply_verdict(ticket, verdict),
            _ => {
                e.calls.take(ticket);
                Outcome::Closed
            }
        }
    }

    /// Delivers everything buffered so far; resolves when the sinks have it.
    pub async fn flush(&self) {
        let e = self.engine();
        e.release_held();
        if e.is_closed() {
            return; // shut down: the delivery loop is gone
        }
        if let Some(p) = &e.records {
            p.flush().await;
        }
    }

    /// Refuses new calls, delivers what is buffered within `timeout`, then
    /// stops all background work. Safe to call more than once.
    pub async fn shutdown(&self, timeout: Duration) {
        let e = self.engine();
        e.release_held();
        if !e.close() {
            return;
        }
        if let Some(p) = &e.records {
            if tokio::time::timeout(timeout, p.flush()).await.is_err() {
                e.log
                    .debug(|| "shutdown: delivery did not finish in time".into());
            }
            // Nothing is delivered after this: every flush still waiting is
            // answered now, not left pending with the runtime gone (a host's
            // promise that never settles keeps its process alive).
            p.close();
            tokio::task::yield_now().await;
        }
        let rt = self
            .shared
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = rt {
            // Last: this future may run on that very runtime; it finishes
            // its current poll, and nothing of it runs after.
            rt.shutdown_background();
        }
    }

    /// Call in a forked child (Python's `os.register_at_fork`): starts the
    /// background work again on a runtime of the child's own, with the
    /// parent's last policy set and agent states (see
    /// [`crate::background::restart_after_fork`]). False when there is
    /// nothing to restart (no runtime was needed, or it was shut down).
    pub fn restart_after_fork(&self) -> Result<bool, Error> {
        let mut slot = self
            .shared
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(old) = slot.take() else {
            return Ok(false);
        };
        if self.is_closed() {
            std::mem::forget(old);
            return Ok(false);
        }
        let rt =
            crate::background::restart_after_fork(self.engine(), &self.shared.background, old)?;
        *slot = Some(rt);
        Ok(true)
    }

    /// Runs `future` on the governor's runtime and hands its result to
    /// `done` there; a panic in it becomes an [`ErrorKind::Internal`] error.
    /// This is how a binding runs the async methods: it passes a future
    /// that owns a clone of the governor (never a borrow of its host's
    /// object, which the host may free while the future runs) and settles
    /// its host's promise in `done`.
    ///
    /// A governor without a runtime (local mode without an audit log, or
    /// after `shutdown`) has nothing that waits: the future runs to its end
    /// on the calling thread, without starting any thread.
    pub fn run_async<T, F, D>(&self, future: F, done: D)
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
        D: FnOnce(Result<T, Error>) + Send + 'static,
    {
        let rt = self
            .shared
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = rt.as_ref() {
            let settle = Settle::new(done);
            // Settled in the poll that finishes the future: `shutdown` stops
            // the runtime right after its own future's last poll, and a
            // second task waiting to settle it would be dropped unanswered
            // (then rejected as closed, though it succeeded).
            rt.spawn(async move {
                let result = AssertUnwindSafe(future)
                    .catch_unwind()
                    .await
                    .map_err(|panic| Error::from_panic(&*panic));
                settle.done(result);
            });
            return;
        }
        drop(rt);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map(|inline| inline.block_on(future))
        }));
        done(match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Error::new(
                ErrorKind::Internal,
                format!("cannot run an async call: {e}"),
            )),
            Err(panic) => Err(Error::from_panic(&*panic)),
        });
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::Closed, crate::messages::CLOSED)
}

/// Calls `done` exactly once: with the result, or, when the task waiting
/// for it is dropped (the runtime shut down under it), with a `Closed`
/// error. A host's promise must settle either way: one left pending could
/// keep the host's event loop alive forever.
struct Settle<T, D: FnOnce(Result<T, Error>)>(Option<D>, PhantomData<fn(T)>);

impl<T, D: FnOnce(Result<T, Error>)> Settle<T, D> {
    fn new(done: D) -> Self {
        Self(Some(done), PhantomData)
    }

    fn done(mut self, result: Result<T, Error>) {
        if let Some(done) = self.0.take() {
            done(result);
        }
    }
}

impl<T, D: FnOnce(Result<T, Error>)> Drop for Settle<T, D> {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done(Err(closed()));
        }
    }
}

fn load_policy_input(input: &PolicyInput) -> Result<Vec<SourcedPolicy>, Error> {
    match input {
        PolicyInput::Path(p) => {
            load_path(Path::new(p)).map_err(|e| Error::new(ErrorKind::InvalidPolicy, e.to_string()))
        }
        PolicyInput::Inline(values) => Ok(SourcedPolicy::from_values(values.iter().cloned())),
    }
}
