//! The governor: one per client. It owns the compiled policy set, the agents
//! it has seen, the calls in flight, the record buffer and the background
//! work, and turns each call into an [`Outcome`].
//!
//! `decide` and `complete` are synchronous and never touch the network: they
//! run on the host's calling thread, so their cost is the governed call's
//! overhead. Everything slow happens on the governor's own tokio runtime.

use crate::agent::{is_valid_agent_id, AgentIdentity};
use crate::audit_log::AuditLog;
use crate::control_plane::{ApiClient, ApiConfig, CircuitBreaker};
use crate::decision::Violation;
use crate::delivery::Delivery;
use crate::log::Logger;
use crate::options::{EnforcementMode, GovernorOptions, OutageMode, PolicyInput};
use crate::outcome::{Outcome, Ticket, Undecided};
use crate::policy::{load_path, ControlPlane, PolicySet, SourcedPolicy};
use crate::record::{
    bound_text, new_trace_id, CallContext, CallRecord, CallStatus, MAX_RECORD_TEXT,
};
use crate::record_buffer::RecordBuffer;
use crate::stats::{Stats, StatsSnapshot};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// Index of a registered (agent, session, user) triple.
pub type AgentHandle = u32;

/// What the kill switch says about an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStatus {
    pub paused: bool,
    pub reason: Option<String>,
}

/// One agent, shared by every handle that names it.
pub struct AgentState {
    pub identity: ArcSwap<AgentIdentity>,
    pub status: ArcSwap<AgentStatus>,
    /// A lookup of this agent's internal id has finished, well or badly:
    /// the first call waits for it (bounded), so that policies scoped by
    /// internal id apply from the start when the control plane is up.
    pub resolved: AtomicBool,
    /// The control plane answered the lookup (found or not); until it has,
    /// the lookup is tried again.
    pub lookup_answered: AtomicBool,
    pub registered_at: Instant,
}

struct Registered {
    state: Arc<AgentState>,
    context: CallContext,
    /// `false`: monitor only. Policy violations become warnings; the kill
    /// switch still stops calls (it is an operator's explicit order).
    enforce: bool,
}

pub(crate) struct PendingCall {
    pub context: CallContext,
    pub tool: String,
    pub input: Option<String>,
    /// The whole arguments, kept only while the control plane decides.
    pub args_full: Option<String>,
    /// Record the call when it completes (a wrapped call), or only when it
    /// is refused (`enforcePolicy`).
    pub record_completion: bool,
    pub started_at: SystemTime,
    pub started: Instant,
    pub warnings: Vec<Violation>,
    pub decided_by: &'static str,
}

/// How a completed call ended, as the host saw it.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// When the call ended (its answer or error arrived), as the host saw
    /// it; the call's duration runs from its decision to then. `None`: it
    /// ended now. A host that reports completions in batches must give it,
    /// or the batching delay would count as the call's.
    pub ended_at: Option<Instant>,
    pub failed: bool,
    pub output: Option<String>,
    pub error_message: Option<String>,
    pub error_type: Option<String>,
    /// The call's arguments as JSON text, for a call decided without them
    /// ([`Governor::decide_by_tool`]); ignored when the decision had them.
    pub input: Option<String>,
}

pub(crate) struct Shared {
    pub options: GovernorOptions,
    pub policies: ArcSwap<PolicySet>,
    pub agents_by_id: Mutex<HashMap<String, Arc<AgentState>>>,
    registered: RwLock<Vec<Registered>>,
    pub(crate) pending: Mutex<BTreeMap<Ticket, PendingCall>>,
    /// Refusal records waiting for completions the host owes (see
    /// [`Governor::decide`]).
    held: Mutex<Vec<CallRecord>>,
    next_ticket: AtomicU64,
    pub buffer: RecordBuffer,
    pub stats: Stats,
    pub log: Logger,
    closed: AtomicBool,
    /// The control plane, when there is an API key.
    pub api: Option<ApiClient>,
    /// One breaker for the control plane as a whole: when it is down, no
    /// part of the SDK keeps hammering it.
    pub breaker: CircuitBreaker,
    /// A policy set is held (from a sync or the on-disk cache).
    pub has_policies: AtomicBool,
    /// The first policy sync finished, well or badly.
    pub first_sync_done: AtomicBool,
    pub etag: Mutex<Option<String>>,
    /// Woken whenever a sync finishes or an agent is resolved.
    pub progress: Notify,
    /// Woken when an agent is registered, so its id and status are looked up at once.
    pub agents_changed: Arc<Notify>,
    /// The control plane rejected the key: every call is refused.
    pub auth_failed: AtomicBool,
    pub started: Instant,
    /// Where records go; `None` when there is nowhere to send them, in
    /// which case no record is even built.
    pub delivery: Option<Delivery>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropping a runtime from inside another runtime's thread panics;
        // shutting it down in the background is safe from anywhere.
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
    pub fn new(options: GovernorOptions) -> Result<Self, String> {
        options.validate()?;
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
                    .map_err(|e| e.to_string())?
            }
        };
        let audit_log = options
            .audit_log
            .as_deref()
            .map(AuditLog::open)
            .transpose()?;
        let needs_runtime = audit_log.is_some() || !options.is_local_only();
        let runtime = if needs_runtime {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .max_blocking_threads(2)
                    .thread_name("execlave")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start background runtime: {e}"))?,
            )
        } else {
            None
        };
        let api = match &options.api_key {
            None => None,
            Some(key) => Some(ApiClient::new(ApiConfig {
                base_url: options.base_url(),
                api_key: key.clone(),
                sign_requests: options.sign_requests,
                request_timeout: Duration::from_millis(options.request_timeout_ms.max(1)),
                user_agent: format!("execlave-sdk-rust-core/{}", env!("CARGO_PKG_VERSION")),
            })?),
        };
        let delivery = (audit_log.is_some() || api.is_some()).then(|| Delivery::new(audit_log));
        let cached = options
            .policy_cache_path
            .as_deref()
            .filter(|_| api.is_some())
            .and_then(crate::policy_cache::load);
        let breaker = CircuitBreaker::new(
            3,
            Duration::from_millis(options.circuit_breaker_cooldown_ms),
        );
        let shared = Arc::new(Shared {
            log: Logger::new(options.debug),
            buffer: RecordBuffer::new(options.buffer_size),
            options,
            policies: ArcSwap::from_pointee(policies),
            agents_by_id: Mutex::new(HashMap::new()),
            registered: RwLock::new(Vec::new()),
            pending: Mutex::new(BTreeMap::new()),
            held: Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(1),
            stats: Stats::default(),
            closed: AtomicBool::new(false),
            api,
            breaker,
            has_policies: AtomicBool::new(false),
            first_sync_done: AtomicBool::new(false),
            etag: Mutex::new(None),
            progress: Notify::new(),
            agents_changed: Arc::new(Notify::new()),
            auth_failed: AtomicBool::new(false),
            started: Instant::now(),
            delivery,
            runtime: Mutex::new(runtime),
        });
        let g = Governor { shared };
        if let Some(cached) = cached {
            g.adopt_policies(cached.policies, cached.etag, "the policy cache");
        }
        if let Some(rt) = g.shared.runtime.lock().unwrap().as_ref() {
            if g.shared.delivery.is_some() {
                rt.spawn(Delivery::run(Arc::downgrade(&g.shared)));
            }
            if g.shared.api.is_some() {
                rt.spawn(crate::sync::policy_sync_loop(Arc::downgrade(&g.shared)));
                rt.spawn(crate::sync::kill_switch_loop(Arc::downgrade(&g.shared)));
            }
        }
        g.shared.log.debug(|| {
            format!(
                "started in {} mode with {} policies",
                if g.shared.options.is_local_only() {
                    "local"
                } else {
                    "control-plane"
                },
                g.shared.policies.load().len()
            )
        });
        Ok(g)
    }

    pub(crate) fn upgrade(shared: &std::sync::Weak<Shared>) -> Option<Governor> {
        shared.upgrade().map(|shared| Governor { shared })
    }

    pub(crate) fn shared_ref(&self) -> &Shared {
        &self.shared
    }

    pub fn stats(&self) -> StatsSnapshot {
        let mut s = self.shared.stats.snapshot();
        s.records_dropped += self.shared.buffer.dropped();
        s
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Registers who calls are made for; the handle is what `decide` takes.
    pub fn register_agent(
        &self,
        agent_id: &str,
        session_id: Option<&str>,
        user_id: Option<&str>,
        enforce: bool,
    ) -> Result<AgentHandle, String> {
        if !is_valid_agent_id(agent_id) {
            return Err(format!(
                "agentId must be lowercase kebab-case such as \"ops-agent\", not {agent_id:?}"
            ));
        }
        let state = self
            .shared
            .agents_by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(agent_id.to_string())
            .or_insert_with(|| {
                Arc::new(AgentState {
                    identity: ArcSwap::from_pointee(AgentIdentity::new(agent_id)),
                    status: ArcSwap::from_pointee(AgentStatus::default()),
                    resolved: AtomicBool::new(false),
                    lookup_answered: AtomicBool::new(false),
                    registered_at: Instant::now(),
                })
            })
            .clone();
        if !state.resolved.load(Ordering::Acquire) {
            self.shared.agents_changed.notify_one();
        }
        let context = CallContext {
            agent_id: agent_id.into(),
            session_id: session_id.map(Into::into),
            user_id: user_id.map(Into::into),
        };
        let mut reg = self
            .shared
            .registered
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = reg
            .iter()
            .position(|r| r.context == context && r.enforce == enforce)
        {
            return Ok(i as AgentHandle);
        }
        reg.push(Registered {
            state,
            context,
            enforce,
        });
        Ok((reg.len() - 1) as AgentHandle)
    }

    /// Replaces the policy set with raw policies from the control plane or
    /// its cache: the valid ones apply; the calls an invalid one may apply
    /// to are left to the control plane (with a warning). A
    /// non-empty list in which nothing is valid is refused as a whole, so
    /// that garbage can never turn into an empty set, which allows all.
    pub(crate) fn adopt_policies(
        &self,
        raw: Vec<serde_json::Value>,
        etag: Option<String>,
        from: &str,
    ) -> bool {
        let s = &*self.shared;
        let sourced = SourcedPolicy::from_values(raw);
        let (set, errors) = PolicySet::compile_lenient(&sourced);
        for e in &errors {
            s.log.debug(|| {
                format!(
                    "cannot read a policy from {from} ({e}); \
                     the control plane decides the calls it may apply to"
                )
            });
        }
        s.stats
            .policy_warnings
            .fetch_add(errors.len() as u64, Ordering::Relaxed);
        if !sourced.is_empty() && errors.len() == sourced.len() {
            s.log.debug(|| {
                format!("no valid policy in the answer from {from}; keeping the last good set")
            });
            return false;
        }
        s.log
            .debug(|| format!("{} policies from {from}", set.len()));
        // Cache first, then publish: once a call has been decided on this
        // set, a restart during an outage finds the same set on disk.
        if let (Some(path), true) = (&s.options.policy_cache_path, from != "the policy cache") {
            let cached = crate::policy_cache::CachedPolicies {
                etag: etag.clone(),
                policies: sourced.into_iter().map(|p| p.value).collect(),
            };
            if let Err(e) = crate::policy_cache::store(path, &cached) {
                s.log.once("policy-cache-write", || {
                    format!("cannot write the policy cache {}: {e}", path.display())
                });
            }
        }
        s.policies.store(Arc::new(set));
        *s.etag.lock().unwrap_or_else(|e| e.into_inner()) = etag;
        s.has_policies.store(true, Ordering::Release);
        true
    }

    /// True once a call for this agent may be decided: the first sync and
    /// the agent's id lookup are done, or the wait for them has run out.
    fn ready_for(&self, state: &AgentState) -> bool {
        let s = &*self.shared;
        if s.api.is_none() {
            return true;
        }
        let synced =
            s.first_sync_done.load(Ordering::Acquire) || s.has_policies.load(Ordering::Acquire);
        if synced && state.resolved.load(Ordering::Acquire) {
            return true;
        }
        Instant::now() >= self.wait_deadline(state)
    }

    fn wait_deadline(&self, state: &AgentState) -> Instant {
        state.registered_at.max(self.shared.started)
            + Duration::from_millis(self.shared.options.first_sync_timeout_ms)
    }

    /// Resolves when calls for this agent may be decided (see `decide`'s
    /// `WaitForSync`); never later than the first-sync timeout.
    pub async fn wait_for_sync(&self, handle: AgentHandle) {
        let Some((state, _, _)) = self.registered(handle) else {
            return;
        };
        let deadline = tokio::time::Instant::from_std(self.wait_deadline(&state));
        loop {
            let progressed = self.shared.progress.notified();
            if self.ready_for(&state) {
                return;
            }
            tokio::select! {
                _ = progressed => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    fn registered(&self, handle: AgentHandle) -> Option<(Arc<AgentState>, CallContext, bool)> {
        let reg = self
            .shared
            .registered
            .read()
            .unwrap_or_else(|e| e.into_inner());
        reg.get(handle as usize)
            .map(|r| (r.state.clone(), r.context.clone(), r.enforce))
    }

    /// Decides one call. With `track`, an allowed call stays pending until
    /// [`Governor::complete`] reports how it ended (the wrapped `callTool`);
    /// without it (a bare `enforcePolicy`), only refusals are recorded.
    ///
    /// `completions_owed`: the host still holds completions of earlier
    /// calls (it hands them over in batches). A refusal's record then waits
    /// for them ([`Governor::complete_many`] or [`Governor::flush`]), so
    /// that records stay in the order calls ended or were refused.
    pub fn decide(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        track: bool,
        completions_owed: bool,
    ) -> Result<Outcome, String> {
        let s = &*self.shared;
        if self.is_closed() {
            return Ok(Outcome::Closed);
        }
        let (state, context, enforce) = self
            .registered(handle)
            .ok_or_else(|| format!("unknown agent handle {handle}"))?;
        if !self.ready_for(&state) {
            return Ok(Outcome::WaitForSync);
        }
        Stats::bump(&s.stats.decisions);

        if s.api.is_some() && s.auth_failed.load(Ordering::Acquire) {
            Stats::bump(&s.stats.blocked);
            return Ok(Outcome::AuthFailed {
                message: AUTH_FAILED_MESSAGE.into(),
            });
        }

        let status = state.status.load();
        if status.paused {
            Stats::bump(&s.stats.blocked);
            let reason = status.reason.clone();
            self.record_refusal(
                &context,
                tool,
                args_json,
                vec![],
                vec![],
                Some(format!(
                    "agent {} is paused{}",
                    context.agent_id,
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )),
                "AgentPausedError",
                completions_owed,
            );
            return Ok(Outcome::Paused {
                agent_id: context.agent_id.to_string(),
                reason,
            });
        }

        if s.api.is_some() && !s.has_policies.load(Ordering::Acquire) {
            let reason =
                "no policy set yet: the Execlave control plane has not answered".to_string();
            return Ok(self.outage(
                context,
                tool,
                args_json,
                vec![],
                track,
                reason,
                completions_owed,
            ));
        }

        let mut decision =
            s.policies
                .load()
                .evaluate(&state.identity.load(), &tool, args_json.as_deref());
        if !enforce && decision.is_blocked() {
            let blocking = std::mem::take(&mut decision.violations);
            decision.warnings.extend(blocking);
        }
        if decision.is_blocked() {
            Stats::bump(&s.stats.blocked);
            let violations = decision.violations.clone();
            let message = violations_message(&violations);
            self.record_refusal(
                &context,
                tool,
                args_json,
                decision.violations,
                decision.warnings.clone(),
                Some(message),
                "PolicyBlockedError",
                completions_owed,
            );
            return Ok(Outcome::Block {
                violations,
                warnings: decision.warnings,
            });
        }

        if s.api.is_some()
            && (decision.needs_server || s.options.enforcement == EnforcementMode::Remote)
        {
            let ticket = self.start_pending(
                context,
                tool,
                args_json,
                decision.warnings.clone(),
                track,
                "remote",
                true,
            );
            return Ok(Outcome::AskServer {
                ticket,
                warnings: decision.warnings,
            });
        }
        if decision.needs_server {
            // Local mode: nobody can make the server's part of the decision.
            // That is an outage by another name, and handled the same way.
            let reason = "the agent has policies only the Execlave control plane can evaluate, \
                          and no API key is set (local mode)"
                .to_string();
            return Ok(self.outage(
                context,
                tool,
                args_json,
                decision.warnings,
                track,
                reason,
                completions_owed,
            ));
        }

        Stats::bump(&s.stats.allowed);
        if !decision.warnings.is_empty() {
            Stats::bump(&s.stats.warned);
        }
        let ticket = track.then(|| {
            self.start_pending(
                context,
                tool,
                args_json,
                decision.warnings.clone(),
                true,
                "local",
                false,
            )
        });
        Ok(Outcome::Allow {
            ticket,
            warnings: decision.warnings,
            bypass: None,
        })
    }

    /// The hot path's shortcut: decides a tracked call on its tool name
    /// alone, when that is enough. Returns the ticket of a call that is
    /// allowed with nothing to report (no warning, no server involved, no
    /// argument rule on the tool); otherwise why not, having counted and
    /// recorded nothing: the host then calls [`Governor::decide`] with the
    /// arguments. The arguments of a call allowed here reach its record
    /// through [`Completion::input`].
    pub fn decide_by_tool(&self, handle: AgentHandle, tool: &str) -> Result<Ticket, Undecided> {
        let s = &*self.shared;
        if self.is_closed() {
            return Err(Undecided::Other);
        }
        // `enforce` only turns violations into warnings, so a clean
        // decision is the same either way.
        let (state, context, _enforce) = self.registered(handle).ok_or(Undecided::Other)?;
        if s.api.is_some()
            && (s.options.enforcement == EnforcementMode::Remote
                || s.auth_failed.load(Ordering::Acquire)
                || !s.has_policies.load(Ordering::Acquire))
        {
            return Err(Undecided::Other);
        }
        if !self.ready_for(&state) || state.status.load().paused {
            return Err(Undecided::Other);
        }
        let decision = s
            .policies
            .load()
            .evaluate_tool(&state.identity.load(), tool)
            .ok_or(Undecided::NeedsArguments)?;
        let clean = decision.violations.is_empty()
            && decision.warnings.is_empty()
            && !decision.needs_server;
        if !clean {
            return Err(Undecided::Other);
        }
        Stats::bump(&s.stats.decisions);
        Stats::bump(&s.stats.allowed);
        if s.delivery.is_none() {
            return Ok(0); // nothing to record (see `start_pending`)
        }
        Ok(self.start_pending(context, tool.to_owned(), None, vec![], true, "local", false))
    }

    /// No decision can be had: `enforcementOnOutage` says what happens.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn outage(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        track: bool,
        reason: String,
        hold_record: bool,
    ) -> Outcome {
        let s = &*self.shared;
        match s.options.enforcement_on_outage {
            OutageMode::FailClosed => {
                Stats::bump(&s.stats.blocked);
                self.record_refusal(
                    &context,
                    tool,
                    args_json,
                    vec![],
                    warnings,
                    Some(reason.clone()),
                    "EnforcementUnavailableError",
                    hold_record,
                );
                Outcome::Unavailable {
                    reason,
                    consecutive_failures: s.breaker.consecutive_failures(),
                }
            }
            OutageMode::FailOpen => {
                Stats::bump(&s.stats.allowed);
                Stats::bump(&s.stats.bypassed);
                s.log
                    .debug(|| format!("enforcement bypassed for tool {tool:?}: {reason}"));
                let ticket = track.then(|| {
                    self.start_pending(
                        context,
                        tool,
                        args_json,
                        warnings.clone(),
                        true,
                        "bypassed",
                        false,
                    )
                });
                Outcome::Allow {
                    ticket,
                    warnings,
                    bypass: Some(reason),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_pending(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        record_completion: bool,
        decided_by: &'static str,
        keep_args: bool,
    ) -> Ticket {
        let s = &*self.shared;
        if s.delivery.is_none() && !keep_args {
            // Nowhere to record to and nothing to ask: keep nothing. The
            // ticket 0 tells the host there is nothing to report either.
            return 0;
        }
        let ticket = s.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (input, args_full) = match args_json {
            Some(a) if keep_args => (Some(bound_text(a.clone(), MAX_RECORD_TEXT)), Some(a)),
            Some(a) => (Some(bound_text(a, MAX_RECORD_TEXT)), None),
            None => (None, None),
        };
        let call = PendingCall {
            context,
            tool,
            input,
            args_full,
            record_completion,
            started_at: SystemTime::now(),
            started: Instant::now(),
            warnings,
            decided_by,
        };
        let evicted = {
            let mut pending = s.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.insert(ticket, call);
            if pending.len() > s.options.max_pending_calls {
                pending.pop_first()
            } else {
                None
            }
        };
        if let Some((_, call)) = evicted {
            if call.record_completion {
                self.push_record(finish(
                    call,
                    Completion {
                        failed: true,
                        error_message: Some(
                            "the call never completed (too many calls in flight)".into(),
                        ),
                        error_type: Some("Incomplete".into()),
                        ..Default::default()
                    },
                ));
            }
        }
        ticket
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
        let mut records = Vec::new();
        {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (ticket, completion) in completions {
                if ticket == 0 {
                    continue;
                }
                if let Some(call) = pending.remove(&ticket).filter(|c| c.record_completion) {
                    records.push((call, completion));
                }
            }
        }
        let held = self.take_held();
        self.push_records(
            records
                .into_iter()
                .map(|(call, c)| finish(call, c))
                .chain(held),
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_refusal(
        &self,
        context: &CallContext,
        tool: String,
        args_json: Option<String>,
        violations: Vec<Violation>,
        warnings: Vec<Violation>,
        message: Option<String>,
        error_type: &str,
        hold: bool,
    ) {
        if self.shared.delivery.is_none() {
            return;
        }
        let record = CallRecord {
            trace_id: new_trace_id(),
            audit_logged: false,
            context: context.clone(),
            tool,
            input: args_json.map(|a| bound_text(a, MAX_RECORD_TEXT)),
            output: None,
            started_at: SystemTime::now(),
            duration_ms: 0.0,
            status: CallStatus::PolicyBlocked,
            error_message: message,
            error_type: Some(error_type.into()),
            violations,
            warnings,
            decided_by: "local",
        };
        if hold {
            self.shared
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
        } else {
            self.push_record(record);
        }
    }

    /// Refusal records held for completions the host still owes.
    fn take_held(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.shared.held.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn push_record(&self, record: CallRecord) {
        self.push_records([record]);
    }

    fn push_records(&self, records: impl IntoIterator<Item = CallRecord>) {
        let s = &*self.shared;
        if let Some(d) = &s.delivery {
            let (before, after) = s.buffer.push_many(records);
            // Wake the delivery task when a batch fills up, not on every push
            // after that: each wake of a parked worker is a system call.
            if before < s.options.batch_size && after >= s.options.batch_size {
                d.wake();
            }
        }
    }

    /// Delivers everything buffered so far; resolves when the sinks have it.
    pub async fn flush(&self) {
        let held = self.take_held();
        self.push_records(held);
        if let Some(d) = &self.shared.delivery {
            d.flush().await;
        }
    }

    /// Refuses new calls, delivers what is buffered within `timeout`, then
    /// stops all background work. Safe to call more than once.
    pub async fn shutdown(&self, timeout: Duration) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(d) = &self.shared.delivery {
            if tokio::time::timeout(timeout, d.flush()).await.is_err() {
                self.shared
                    .log
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
            rt.shutdown_background();
        }
    }
}

/// What every refused call says when the control plane rejected the key.
pub const AUTH_FAILED_MESSAGE: &str = "the Execlave API rejected the API key (HTTP 401/403): \
     check EXECLAVE_API_KEY; calls are refused until it is fixed";

pub(crate) fn finish(call: PendingCall, completion: Completion) -> CallRecord {
    CallRecord {
        trace_id: new_trace_id(),
        audit_logged: false,
        context: call.context,
        tool: call.tool,
        input: call
            .input
            .or_else(|| completion.input.map(|a| bound_text(a, MAX_RECORD_TEXT))),
        output: completion.output.map(|o| bound_text(o, MAX_RECORD_TEXT)),
        started_at: call.started_at,
        duration_ms: completion
            .ended_at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(call.started)
            .as_secs_f64()
            * 1000.0,
        status: if completion.failed {
            CallStatus::Error
        } else {
            CallStatus::Success
        },
        error_message: completion
            .error_message
            .map(|m| bound_text(m, MAX_RECORD_TEXT)),
        error_type: completion.error_type,
        violations: vec![],
        warnings: call.warnings,
        decided_by: call.decided_by,
    }
}

/// `blocked by policy: tool "x" is denied by policy "P"; …`
pub fn violations_message(violations: &[Violation]) -> String {
    let parts: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
    format!("blocked by policy: {}", parts.join("; "))
}

fn load_policy_input(input: &PolicyInput) -> Result<Vec<SourcedPolicy>, String> {
    match input {
        PolicyInput::Path(p) => load_path(Path::new(p)).map_err(|e| e.to_string()),
        PolicyInput::Inline(values) => Ok(SourcedPolicy::from_values(values.iter().cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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
                    failed: true,
                    error_message: Some("boom".into()),
                    error_type: Some("TypeError".into()),
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
