//! The governor: one per client, a facade over the parts. It builds them
//! from the options (engine, record pipeline and sinks, control-plane
//! connection, sync loops), owns the one async runtime they run on, and
//! hands a binding's futures to that runtime.

use crate::clock;
use crate::control_plane::{
    ApiClient, ApiConfig, CircuitBreaker, Connection, DEFAULT_FAILURE_THRESHOLD,
};
use crate::engine::agents::{AgentHandle, Agents};
use crate::engine::calls::{Calls, Completion};
use crate::engine::policy_store::PolicyStore;
use crate::engine::{Engine, EngineSettings, Outcome, Ticket, Undecided};
use crate::error::{Error, ErrorKind};
use crate::log::Logger;
use crate::options::{GovernorOptions, PolicyInput};
use crate::policy::{load_path, PolicySet, SourcedPolicy};
use crate::records::audit_log::AuditLog;
use crate::records::pipeline::Pipeline;
use crate::records::sinks_for;
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::kill_switch::KillSwitch;
use crate::sync::policies::{adopt_cache, PolicySync};
use std::future::Future;
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
                PolicySet::compile_strict(&sourced)
                    .map_err(|e| Error::new(ErrorKind::InvalidPolicy, e.to_string()))?
            }
        };
        let audit_log = options
            .audit_log
            .as_deref()
            .map(AuditLog::open)
            .transpose()
            .map_err(Error::invalid_options)?;
        let log = Arc::new(Logger::new(options.debug));
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
        let sinks = sinks_for(audit_log, connection.as_ref(), &log);
        let records = (!sinks.is_empty()).then(|| {
            Arc::new(Pipeline::new(
                sinks,
                options.buffer_size,
                options.batch_size,
                Duration::from_millis(options.flush_interval_ms()),
                options.environment.clone(),
                stats.clone(),
            ))
        });
        let store = Arc::new(PolicyStore::new(policies, options.api_key.is_none()));
        if let (Some(path), Some(_)) = (&options.policy_cache_path, &connection) {
            adopt_cache(&store, path, &log, &stats);
        }
        let agents = Arc::new(Agents::default());
        let progress = Arc::new(Notify::new());
        if let Some(rt) = &runtime {
            if let Some(p) = &records {
                rt.spawn(p.clone().run());
            }
            if let Some(c) = &connection {
                rt.spawn(
                    PolicySync {
                        connection: c.clone(),
                        store: store.clone(),
                        agents: agents.clone(),
                        cache_path: options.policy_cache_path.clone(),
                        refresh: Duration::from_millis(options.policy_refresh_ms.max(10)),
                        stats: stats.clone(),
                        log: log.clone(),
                        progress: progress.clone(),
                    }
                    .run(),
                );
                rt.spawn(
                    KillSwitch {
                        connection: c.clone(),
                        agents: agents.clone(),
                        interval: Duration::from_millis(options.poll_interval_ms.max(10)),
                        log: log.clone(),
                        progress: progress.clone(),
                    }
                    .run(),
                );
            }
        }
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
        Ok(Governor {
            shared: Arc::new(Shared {
                engine,
                runtime: Mutex::new(runtime),
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

    /// See [`Engine::decide_by_tool`].
    pub fn decide_by_tool(&self, handle: AgentHandle, tool: &str) -> Result<Ticket, Undecided> {
        self.engine().decide_by_tool(handle, tool)
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
        let verdict = crate::sync::remote::ask(c, &e.log, &request).await;
        e.apply_verdict(ticket, verdict)
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
            let task = rt.spawn(future);
            rt.spawn(async move {
                done(task.await.map_err(|e| match e.try_into_panic() {
                    Ok(panic) => Error::from_panic(&*panic),
                    Err(_) => Error::new(ErrorKind::Closed, crate::messages::CLOSED),
                }))
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

fn start_runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("execlave")
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot start background runtime: {e}"),
            )
        })
}

fn load_policy_input(input: &PolicyInput) -> Result<Vec<SourcedPolicy>, Error> {
    match input {
        PolicyInput::Path(p) => {
            load_path(Path::new(p)).map_err(|e| Error::new(ErrorKind::InvalidPolicy, e.to_string()))
        }
        PolicyInput::Inline(values) => Ok(SourcedPolicy::from_values(values.iter().cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Ending;
    use serde_json::{json, Value};
    use std::time::Instant;

    /// A governor that allows `echo`, blocks `delete_*` and writes records
    /// to an audit log in `dir`.
    fn governor(dir: &Path) -> Governor {
        let options = json!({
            "policies": [{
                "name": "G",
                "policyType": "tool_invocation",
                "enforcementMode": "block",
                "ruleDefinition": { "allow": ["echo"], "deny": ["delete_*"] }
            }],
            "auditLog": dir.join("audit.jsonl"),
            "flushIntervalMs": 60_000
        });
        Governor::new(serde_json::from_value(options).unwrap()).unwrap()
    }

    fn allow(g: &Governor, handle: AgentHandle, args: &str) -> Ticket {
        let outcome = g
            .decide(handle, "echo".into(), Some(args.into()), true, false)
            .unwrap();
        outcome
            .clean_ticket()
            .expect("an allowed call with a ticket")
    }

    fn audit_log(g: &Governor, dir: &Path) -> Vec<Value> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(g.flush());
        std::fs::read_to_string(dir.join("audit.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A call that answered `output`, `ended_ms` after now (None: at its
    /// completion).
    fn answered(output: &str, ended_ms: Option<f64>) -> Completion {
        Completion {
            ended_at: ended_ms.map(in_ms),
            output: Some(output.into()),
            ..Default::default()
        }
    }

    fn in_ms(ms: f64) -> Instant {
        let d = Duration::from_secs_f64(ms.abs() / 1000.0);
        if ms >= 0.0 {
            Instant::now() + d
        } else {
            Instant::now() - d
        }
    }

    fn about(ms: &Value, expected: f64) -> bool {
        let ms = ms.as_f64().unwrap();
        (expected..expected + 1000.0).contains(&ms)
    }

    #[test]
    fn completions_in_a_batch_are_recorded_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        let g = governor(dir.path());
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let (a, b) = (allow(&g, h, r#"{"n":1}"#), allow(&g, h, r#"{"n":2}"#));
        g.complete_many([
            (b, answered(r#""b""#, Some(12.5))),
            (0, answered("ignored: ticket 0", None)),
            (
                a,
                Completion {
                    ended_at: Some(in_ms(3.25)),
                    ending: Ending::Threw {
                        message: Some("boom".into()),
                        error_type: Some("TypeError".into()),
                    },
                    ..Default::default()
                },
            ),
            (b, answered("ignored: b completed already", None)),
        ]);
        g.complete(a, answered("ignored: a completed already", None));
        let recs = audit_log(&g, dir.path());
        assert_eq!(recs.len(), 2, "{recs:?}");
        assert_eq!(recs[0]["input"], r#"{"n":2}"#);
        assert_eq!(recs[0]["output"], r#""b""#);
        assert_eq!(recs[0]["status"], "success");
        assert!(
            about(&recs[0]["durationMs"], 12.5),
            "the host's end is kept"
        );
        assert_eq!(recs[1]["input"], r#"{"n":1}"#);
        assert_eq!(recs[1]["status"], "error");
        assert_eq!(recs[1]["errorMessage"], "boom");
        assert_eq!(recs[1]["errorType"], "TypeError");
        assert!(about(&recs[1]["durationMs"], 3.25));
        assert_eq!(g.stats().records_written, 2);
    }

    #[test]
    fn refusals_and_completions_keep_the_order_they_were_reported_in() {
        let dir = tempfile::tempdir().unwrap();
        let g = governor(dir.path());
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let a = allow(&g, h, "{}");
        g.complete(a, answered("1", None));
        let blocked = g.decide(h, "delete_all".into(), None, true, false).unwrap();
        assert!(matches!(blocked, Outcome::Block { .. }));
        let recs = audit_log(&g, dir.path());
        let statuses: Vec<&str> = recs.iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["success", "policy_blocked"]);
    }

    #[test]
    fn a_refusal_waits_for_the_completions_the_host_still_owes() {
        let dir = tempfile::tempdir().unwrap();
        let g = governor(dir.path());
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let a = allow(&g, h, "{}");
        // `a` ended, but its completion is still queued on the host's side.
        let blocked = g.decide(h, "delete_all".into(), None, true, true).unwrap();
        assert!(matches!(blocked, Outcome::Block { .. }));
        g.complete_many([(a, answered("1", Some(1.0)))]);
        let statuses: Vec<String> = audit_log(&g, dir.path())
            .iter()
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(statuses, ["success", "policy_blocked"]);

        // A host that never hands the completions over loses nothing: a
        // flush writes the held refusal.
        let b = g.decide(h, "delete_all".into(), None, true, true).unwrap();
        assert!(matches!(b, Outcome::Block { .. }));
        assert_eq!(audit_log(&g, dir.path()).len(), 3);
    }

    #[test]
    fn the_tool_name_decides_only_clean_allows_and_the_input_comes_later() {
        let dir = tempfile::tempdir().unwrap();
        let g = governor(dir.path());
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let ticket = g.decide_by_tool(h, "echo").expect("echo is allowed");
        let other = Err(Undecided::Other);
        assert_ne!(ticket, 0, "an audit log is set: the call is tracked");
        // Refusals and the unknown go to the full path, counting nothing.
        assert_eq!(g.decide_by_tool(h, "delete_all"), other);
        assert_eq!(g.decide_by_tool(h, "not_listed"), other);
        assert_eq!(g.decide_by_tool(h + 1, "echo"), other);
        let stats = g.stats();
        assert_eq!((stats.decisions, stats.allowed, stats.blocked), (1, 1, 0));

        g.complete(
            ticket,
            Completion {
                input: Some(r#"{"text":"hi"}"#.into()),
                ..answered("1", None)
            },
        );
        let recs = audit_log(&g, dir.path());
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0]["input"], r#"{"text":"hi"}"#);
        assert_eq!(recs[0]["status"], "success");

        // An input the decision had wins over the completion's.
        let t = allow(&g, h, r#"{"n":1}"#);
        g.complete(
            t,
            Completion {
                input: Some("ignored".into()),
                ..answered("2", None)
            },
        );
        assert_eq!(audit_log(&g, dir.path())[1]["input"], r#"{"n":1}"#);
    }

    #[test]
    fn the_tool_name_leaves_warnings_arguments_and_a_closed_governor_to_the_full_path() {
        let dir = tempfile::tempdir().unwrap();
        let options = json!({
            "policies": [{
                "name": "W",
                "policyType": "tool_invocation",
                "enforcementMode": "warn",
                "ruleDefinition": { "deny": ["echo"] }
            }, {
                "name": "A",
                "policyType": "tool_invocation",
                "enforcementMode": "block",
                "ruleDefinition": { "arguments": [
                    { "tools": ["search"], "argument": "q", "kind": "regex", "deny": ["secret"] }
                ] }
            }],
        });
        let g = Governor::new(serde_json::from_value(options).unwrap()).unwrap();
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let other = Err(Undecided::Other);
        assert_eq!(
            g.decide_by_tool(h, "echo"),
            other,
            "a warning needs the full path"
        );
        assert_eq!(g.decide_by_tool(h, "other"), Ok(0), "no sink: ticket 0");
        assert_eq!(
            g.decide_by_tool(h, "search"),
            Err(Undecided::NeedsArguments)
        );
        assert_eq!(g.stats().decisions, 1, "only the call decided here counts");

        let g = governor(dir.path());
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(g.shutdown(Duration::from_secs(1)));
        assert_eq!(g.decide_by_tool(h, "echo"), Err(Undecided::Other));
    }

    #[test]
    fn a_call_is_timed_from_its_decision_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let g = governor(dir.path());
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let a = allow(&g, h, "{}");
        let b = allow(&g, h, "{}");
        std::thread::sleep(Duration::from_millis(20));
        // No end given: it ended now.
        g.complete(a, answered("1", None));
        // An end before the decision (a host clock gone wrong) is 0, not negative.
        g.complete(b, answered("2", Some(-60_000.0)));
        let recs = audit_log(&g, dir.path());
        assert!(
            about(&recs[0]["durationMs"], 20.0),
            "{}",
            recs[0]["durationMs"]
        );
        assert_eq!(recs[1]["durationMs"], 0.0);
    }
}
