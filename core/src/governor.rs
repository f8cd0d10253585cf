//! The governor: one per client, a facade over the parts. It builds them
//! from the options (engine, record pipeline and sinks, control-plane
//! connection, sync loops), owns the one async runtime they run on, and
//! hands a binding's futures to that runtime.

use crate::background::{spawn_background, start_runtime, BackgroundSettings};
use crate::bypass::{BypassReporter, ReportTiming};
use crate::clock;
use crate::control_plane::{
    ApiClient, ApiConfig, CircuitBreaker, Connection, DEFAULT_FAILURE_THRESHOLD,
};
use crate::decision::Violation;
use crate::engine::agents::{AgentHandle, Agents};
use crate::engine::approval_wait::ApprovalHooks;
use crate::engine::calls::{Calls, Completion};
use crate::engine::local_approval::LocalVerdict;
use crate::engine::policy_store::PolicyStore;
use crate::engine::RemoteVerdict;
use crate::engine::{Engine, EngineSettings, Outcome, Ticket, Undecided};
use crate::error::{Error, ErrorKind};
use crate::log::Logger;
use crate::options::{GovernorOptions, PolicyInput};
use crate::policy::{load_path, ControlPlane, PolicySet, SourcedPolicy};
use crate::policy::{ArgumentPlan, ArgumentValue};
use crate::records::audit_log::AuditLog;
use crate::records::pipeline::Pipeline;
use crate::records::report::{FlushReport, RecordCounts};
use crate::records::sinks_for;
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::approval::ApprovalTiming;
use crate::sync::policies::adopt_cache;
use futures_util::FutureExt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
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
        let Some(rt) = self.runtime.get_mut().ok().and_then(Option::take) else {
            return;
        };
        // Dropped without `shutdown()` (the host let go of its client):
        // what is buffered is delivered on a thread of its own, bounded,
        // rather than stopped with the runtime (issue 18 item 9).
        let e = &self.engine;
        if e.close() {
            if let Some(p) = e.records.clone() {
                e.release_held();
                // Completions can no longer come: the host dropped us.
                e.record_open_calls();
                if p.buffered() > 0 {
                    // Stopped by its guard however the drain ends, or if no
                    // thread could be started to run it.
                    let rt = StopOnDrop(Some(rt));
                    crate::lifetime::drain_in_background(move || {
                        if let Some(runtime) = &rt.0 {
                            // The timer is made inside: it needs the runtime.
                            runtime.block_on(async {
                                let _ =
                                    tokio::time::timeout(crate::lifetime::DRAIN_TIMEOUT, p.flush())
                                        .await;
                            });
                        }
                        p.close();
                        drop(rt);
                    });
                    return;
                }
            }
        }
        // Dropping a runtime from inside one of its own threads (the last
        // clone may live in a future) panics; shutting it down in the
        // background is safe from anywhere.
        rt.shutdown_background();
    }
}

/// The reporter of bypass windows: with a control plane, unless
/// `reportBypasses: false`.
fn bypass_reporter(
    options: &GovernorOptions,
    connection: Option<&Arc<Connection>>,
    stats: &Arc<Stats>,
    log: &Arc<Logger>,
) -> Option<Arc<BypassReporter>> {
    let c = connection.filter(|_| options.report_bypasses)?;
    Some(Arc::new(BypassReporter::new(
        c.clone(),
        ReportTiming::default(),
        stats.clone(),
        log.clone(),
    )))
}

/// A runtime shut down in the background when dropped (never dropped as
/// is: that panics inside one of its own threads).
struct StopOnDrop(Option<Runtime>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct Governor {
    shared: Arc<Shared>,
}

/// A governor that does not keep it alive (see [`crate::lifetime`]).
#[derive(Clone)]
pub struct WeakGovernor(std::sync::Weak<Shared>);

impl WeakGovernor {
    pub fn upgrade(&self) -> Option<Governor> {
        Some(Governor {
            shared: self.0.upgrade()?,
        })
    }

    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
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
        let log = Arc::new(
            Logger::new(options.debug, options.api_key.clone()).with_sink(options.log_sink.clone()),
        );
        warn_if_no_inline_policies(&options, &log);
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
        let bypasses = bypass_reporter(&options, connection.as_ref(), &stats, &log);
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
            approval: ApprovalTiming {
                timeout: Duration::from_millis(options.approval_timeout_ms),
                poll_interval: Duration::from_millis(options.approval_poll_interval_ms),
            },
            local_approver: options.local_approver,
            scan_tool_outputs: options.scan_tool_outputs,
        };
        let engine = Engine::new(
            settings,
            store,
            agents,
            Calls::new(options.max_pending_calls),
            records,
            connection,
            bypasses,
            stats,
            log,
            progress,
        );
        if let Some(rt) = &runtime {
            spawn_background(&engine, &background, rt);
        }
        let governor = Governor {
            shared: Arc::new(Shared {
                engine,
                runtime: Mutex::new(runtime),
                background,
            }),
        };
        crate::lifetime::register(&governor);
        Ok(governor)
    }

    pub fn downgrade(&self) -> WeakGovernor {
        WeakGovernor(Arc::downgrade(&self.shared))
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

    /// The tools a server listed to the wrapped client of `handle`
    /// (`toolPins` on): their descriptors go with every enforce request
    /// of its agent, for the service's `tool_integrity` policies. Each
    /// definition is the listed tool's pinned fields as JSON text; one that
    /// cannot be read (`None`, not JSON, no name) is left out. Nothing to do
    /// without a control plane.
    pub fn set_tool_descriptors(
        &self,
        handle: AgentHandle,
        server: &str,
        definitions: &[Option<String>],
    ) -> Result<(), Error> {
        let e = self.engine();
        if e.connection.is_none() {
            return Ok(());
        }
        let reg = e
            .agents
            .get(handle)
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "unknown agent handle"))?;
        let descriptors = definitions
            .iter()
            .flatten()
            .filter_map(|d| serde_json::from_str(d).ok())
            .filter_map(|d| crate::tools::descriptor::tool_descriptor(server, &d))
            .collect();
        e.descriptors
            .set(&reg.context.agent_id, server, descriptors);
        Ok(())
    }

    /// See [`Engine::scans_tool_outputs`].
    pub fn scans_tool_outputs(&self, handle: AgentHandle) -> bool {
        self.engine().scans_tool_outputs(handle)
    }

    /// See [`Engine::check_tool_output`]: the one call a host (or the
    /// `execlave-mcp` relay) makes with an allowed call's result before
    /// handing it over.
    pub async fn check_tool_output(
        &self,
        handle: AgentHandle,
        ticket: Ticket,
        tool: &str,
        result_json: &str,
    ) -> Outcome {
        self.engine()
            .check_tool_output(handle, ticket, tool, result_json)
            .await
    }

    /// As [`Governor::register_agent`], for the calls a proxy makes for a
    /// host: `origin` (the host's `clientInfo`, the server) goes into their
    /// records' metadata.
    pub fn register_agent_from(
        &self,
        agent_id: &str,
        session_id: Option<&str>,
        origin: crate::records::record::Origin,
    ) -> Result<AgentHandle, Error> {
        self.engine()
            .agents
            .register_from(agent_id, session_id, None, true, Some(Arc::new(origin)))
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
        self.decide_remote_observed(ticket, input, ApprovalHooks::default())
            .await
    }

    /// As [`Governor::decide_remote`], for a caller that also asks a
    /// person about a service approval (`execlave-mcp`): see
    /// [`ApprovalHooks`].
    pub async fn decide_remote_observed(
        &self,
        ticket: Ticket,
        input: Option<String>,
        hooks: ApprovalHooks,
    ) -> Outcome {
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
        let monitor_only = || e.calls.lock().get(&ticket).is_some_and(|c| c.monitor_only);
        match verdict {
            Some(RemoteVerdict::ApprovalRequired(id)) if !self.is_closed() && !monitor_only() => {
                e.wait_for_approval(c, ticket, id, &request, hooks).await
            }
            Some(verdict) if !self.is_closed() => e.apply_verdict(ticket, verdict),
            _ => {
                e.calls.take(ticket);
                Outcome::Closed
            }
        }
    }

    /// The caller gave up on the pending call `ticket` (waiting for an
    /// approval): nothing more is sent for it, it is recorded as
    /// cancelled, and its `decide_remote` resolves `Cancelled`. False: no
    /// such pending call.
    pub fn cancel(&self, ticket: Ticket) -> bool {
        self.engine().cancel(ticket)
    }

    /// As [`Governor::cancel`], with why in the call's record.
    pub fn cancel_because(&self, ticket: Ticket, reason: &str) -> bool {
        self.engine().cancel_because(ticket, Some(reason))
    }

    /// Reports the local approver's answer about a call held back for it
    /// (an `AskApprover` outcome); see [`Engine::settle_local_approval`].
    pub fn settle_local_approval(&self, ticket: Ticket, verdict: LocalVerdict) -> Outcome {
        self.engine().settle_local_approval(ticket, verdict)
    }

    /// Delivers everything buffered so far; resolves when the sinks have it,
    /// with what became of the records meanwhile.
    pub async fn flush(&self) -> FlushReport {
        let e = self.engine();
        e.release_held();
        if e.is_closed() {
            return FlushReport::default(); // shut down: the delivery loop is gone
        }
        let Some(p) = &e.records else {
            return FlushReport::default();
        };
        let before = self.record_counts();
        p.flush().await;
        before.since(self.record_counts(), p.buffered())
    }

    /// Refuses new calls, delivers what is buffered within `timeout`, then
    /// stops all background work. Safe to call more than once (later calls
    /// report nothing). Records still buffered at the end are never
    /// delivered: reported, counted in the stats and said on stderr.
    pub async fn shutdown(&self, timeout: Duration) -> FlushReport {
        let e = self.engine();
        e.release_held();
        if !e.close() {
            return FlushReport::default();
        }
        let mut report = FlushReport::default();
        if let Some(b) = &e.bypasses {
            b.finish(timeout).await;
        }
        if let Some(p) = &e.records {
            let before = self.record_counts();
            let deadline = tokio::time::Instant::now() + timeout;
            self.wait_for_open_calls(deadline).await;
            // The flush gets what is left, and never less than a tenth of
            // the timeout: the records of the calls that did end must go.
            let left = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .max(timeout / 10);
            if tokio::time::timeout(left, p.flush()).await.is_err() {
                e.log
                    .debug(|| "shutdown: delivery did not finish in time".into());
            }
            // Nothing is delivered after this: every flush still waiting is
            // answered now, not left pending with the runtime gone (a host's
            // promise that never settles keeps its process alive).
            p.close();
            tokio::task::yield_now().await;
            report = before.since(self.record_counts(), p.buffered());
            self.give_up_undelivered(report.undelivered);
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
        report
    }

    /// Calls already sent when shutdown began end on their server; their
    /// completions still come (a host reports them as they end). Waits for
    /// them until `deadline`, then records those still open as sent with
    /// their outcome unknown: never left out.
    async fn wait_for_open_calls(&self, deadline: tokio::time::Instant) {
        let e = self.engine();
        while e.open_calls() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(OPEN_CALLS_POLL).await;
        }
        e.release_held();
        let open = e.record_open_calls();
        if open > 0 {
            e.log.once("calls-open-at-shutdown", || {
                format!(
                    "shutdown: {open} call(s) still open after shutdownTimeoutMs were recorded as \
                     sent with their outcome unknown"
                )
            });
        }
    }

    fn record_counts(&self) -> RecordCounts {
        let s = self.stats();
        RecordCounts {
            written: s.records_written,
            dropped: s.records_dropped,
        }
    }

    /// Records that shutdown could not deliver: counted, and said once on
    /// stderr whatever `debug` says (a gap in the audit trail).
    fn give_up_undelivered(&self, n: u64) {
        if n == 0 {
            return;
        }
        let e = self.engine();
        e.stats.records_undelivered.fetch_add(n, Relaxed);
        e.log.once("records-undelivered", || {
            format!(
                "shutdown: {n} record(s) could not be delivered in time (shutdownTimeoutMs) and \
                 are lost; stats().recordsUndelivered counts them"
            )
        });
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

/// How often shutdown looks whether the calls in flight have ended.
const OPEN_CALLS_POLL: Duration = Duration::from_millis(5);

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

/// `policies: []` is allowed (a test, a start before any policy is
/// written), but it allows every call: said once, whatever `debug` says.
/// A path that yields no policy is an error instead (`load_path`).
fn warn_if_no_inline_policies(options: &GovernorOptions, log: &Logger) {
    if matches!(&options.policies, Some(PolicyInput::Inline(v)) if v.is_empty())
        && options.is_local_only()
    {
        log.once("no-inline-policies", || {
            "policies is an empty list: no policy applies, so every call is allowed".into()
        });
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
