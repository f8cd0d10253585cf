//! The governor: one per client. It owns the compiled policy set, the agents
//! it has seen, the calls in flight, the record buffer and the background
//! work, and turns each call into an [`Outcome`].
//!
//! `decide` and `complete` are synchronous and never touch the network: they
//! run on the host's calling thread, so their cost is the governed call's
//! overhead. Everything slow happens on the governor's own tokio runtime.

use crate::agent::{is_valid_agent_id, AgentIdentity};
use crate::audit_log::AuditLog;
use crate::decision::Violation;
use crate::delivery::Delivery;
use crate::log::Logger;
use crate::options::{GovernorOptions, OutageMode, PolicyInput};
use crate::outcome::{Outcome, Ticket};
use crate::policy::{load_path, PolicySet, SourcedPolicy};
use crate::record::{bound_text, CallContext, CallRecord, CallStatus, MAX_RECORD_TEXT};
use crate::record_buffer::RecordBuffer;
use crate::stats::{Stats, StatsSnapshot};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

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
}

struct Registered {
    state: Arc<AgentState>,
    context: CallContext,
    /// `false`: monitor only. Policy violations become warnings; the kill
    /// switch still stops calls (it is an operator's explicit order).
    enforce: bool,
}

struct PendingCall {
    context: CallContext,
    tool: String,
    input: Option<String>,
    started_at: SystemTime,
    started: Instant,
    warnings: Vec<Violation>,
    decided_by: &'static str,
}

/// How a completed call ended, as the host saw it.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub failed: bool,
    pub output: Option<String>,
    pub error_message: Option<String>,
    pub error_type: Option<String>,
}

pub(crate) struct Shared {
    pub options: GovernorOptions,
    pub policies: ArcSwap<PolicySet>,
    pub agents_by_id: Mutex<HashMap<String, Arc<AgentState>>>,
    registered: RwLock<Vec<Registered>>,
    pending: Mutex<BTreeMap<Ticket, PendingCall>>,
    next_ticket: AtomicU64,
    pub buffer: RecordBuffer,
    pub stats: Stats,
    pub log: Logger,
    closed: AtomicBool,
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
                PolicySet::compile_strict(&sourced).map_err(|e| e.to_string())?
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
        let delivery = audit_log.map(|log| Delivery::new(Some(log)));
        let shared = Arc::new(Shared {
            log: Logger::new(options.debug),
            buffer: RecordBuffer::new(options.buffer_size),
            options,
            policies: ArcSwap::from_pointee(policies),
            agents_by_id: Mutex::new(HashMap::new()),
            registered: RwLock::new(Vec::new()),
            pending: Mutex::new(BTreeMap::new()),
            next_ticket: AtomicU64::new(1),
            stats: Stats::default(),
            closed: AtomicBool::new(false),
            delivery,
            runtime: Mutex::new(runtime),
        });
        if let Some(rt) = shared.runtime.lock().unwrap().as_ref() {
            if shared.delivery.is_some() {
                rt.spawn(Delivery::run(Arc::downgrade(&shared)));
            }
        }
        let g = Governor { shared };
        g.shared.log.debug(|| {
            format!(
                "started in {} mode with {} policies",
                if g.shared.options.is_local_only() { "local" } else { "control-plane" },
                g.shared.policies.load().len()
            )
        });
        Ok(g)
    }

    pub fn options(&self) -> &GovernorOptions {
        &self.shared.options
    }

    pub fn stats(&self) -> StatsSnapshot {
        let mut s = self.shared.stats.snapshot();
        s.records_dropped += self.shared.buffer.dropped();
        s
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Replaces the whole policy set at once: a decision sees the old set or
    /// the new one, never a mix.
    pub fn replace_policies(&self, set: PolicySet) {
        self.shared.policies.store(Arc::new(set));
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
                })
            })
            .clone();
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

    /// The agent states, for background work (id resolution, kill switch).
    pub fn agent_state(&self, agent_id: &str) -> Option<Arc<AgentState>> {
        self.shared
            .agents_by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent_id)
            .cloned()
    }

    /// Decides one call. With `track`, an allowed call stays pending until
    /// [`Governor::complete`] reports how it ended (the wrapped `callTool`);
    /// without it (a bare `enforcePolicy`), only refusals are recorded.
    pub fn decide(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        track: bool,
    ) -> Result<Outcome, String> {
        let s = &*self.shared;
        if self.is_closed() {
            return Ok(Outcome::Closed);
        }
        let (state, context, enforce) = {
            let reg = s.registered.read().unwrap_or_else(|e| e.into_inner());
            let r = reg
                .get(handle as usize)
                .ok_or_else(|| format!("unknown agent handle {handle}"))?;
            (r.state.clone(), r.context.clone(), r.enforce)
        };
        Stats::bump(&s.stats.decisions);

        let status = state.status.load();
        if status.paused {
            Stats::bump(&s.stats.blocked);
            let reason = status.reason.clone();
            self.record_refusal(
                &context,
                tool,
                args_json,
                vec![],
                Some(format!(
                    "agent {} is paused{}",
                    context.agent_id,
                    reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                )),
                "AgentPausedError",
            );
            return Ok(Outcome::Paused {
                agent_id: context.agent_id.to_string(),
                reason,
            });
        }

        let mut decision = s
            .policies
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
            self.record_refusal_with(
                &context,
                tool,
                args_json,
                decision.violations,
                decision.warnings.clone(),
                Some(message),
                "PolicyBlockedError",
            );
            return Ok(Outcome::Block {
                violations,
                warnings: decision.warnings,
            });
        }

        let mut bypass = None;
        if decision.needs_server {
            if s.options.is_local_only() {
                // Nobody can make the server's part of the decision: that is
                // an outage by another name, and handled the same way.
                let reason = "the agent has policies only the Execlave control plane can \
                              evaluate, and no API key is set (local mode)"
                    .to_string();
                match s.options.enforcement_on_outage {
                    OutageMode::FailClosed => {
                        Stats::bump(&s.stats.blocked);
                        self.record_refusal(
                            &context,
                            tool,
                            args_json,
                            decision.warnings,
                            Some(reason.clone()),
                            "EnforcementUnavailableError",
                        );
                        return Ok(Outcome::Unavailable {
                            reason,
                            consecutive_failures: 0,
                        });
                    }
                    OutageMode::FailOpen => {
                        Stats::bump(&s.stats.bypassed);
                        bypass = Some(reason);
                    }
                }
            }
        }

        Stats::bump(&s.stats.allowed);
        if !decision.warnings.is_empty() {
            Stats::bump(&s.stats.warned);
        }
        let ticket = if track && s.delivery.is_some() {
            Some(self.start_pending(context, tool, args_json, decision.warnings.clone(), bypass.is_some()))
        } else if track {
            // Nowhere to record to: still hand out a ticket so the host's
            // protocol is the same, but keep nothing.
            Some(0)
        } else {
            None
        };
        Ok(Outcome::Allow {
            ticket,
            warnings: decision.warnings,
            bypass,
        })
    }

    fn start_pending(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        bypassed: bool,
    ) -> Ticket {
        let s = &*self.shared;
        let ticket = s.next_ticket.fetch_add(1, Ordering::Relaxed);
        let call = PendingCall {
            context,
            tool,
            input: args_json.map(|a| bound_text(a, MAX_RECORD_TEXT)),
            started_at: SystemTime::now(),
            started: Instant::now(),
            warnings,
            decided_by: if bypassed { "bypassed" } else { "local" },
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
        ticket
    }

    /// Reports how an allowed call ended. Unknown tickets (0, or already
    /// completed) are ignored: completing twice must not record twice.
    pub fn complete(&self, ticket: Ticket, completion: Completion) {
        if ticket == 0 {
            return;
        }
        let call = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ticket);
        if let Some(call) = call {
            self.push_record(finish(call, completion));
        }
    }

    fn record_refusal(
        &self,
        context: &CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        message: Option<String>,
        error_type: &str,
    ) {
        self.record_refusal_with(context, tool, args_json, vec![], warnings, message, error_type)
    }

    #[allow(clippy::too_many_arguments)]
    fn record_refusal_with(
        &self,
        context: &CallContext,
        tool: String,
        args_json: Option<String>,
        violations: Vec<Violation>,
        warnings: Vec<Violation>,
        message: Option<String>,
        error_type: &str,
    ) {
        if self.shared.delivery.is_none() {
            return;
        }
        self.push_record(CallRecord {
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
        });
    }

    fn push_record(&self, record: CallRecord) {
        let s = &*self.shared;
        if let Some(d) = &s.delivery {
            let n = s.buffer.push(record);
            if n >= s.options.batch_size {
                d.wake();
            }
        }
    }

    /// Delivers everything buffered so far; resolves when the sinks have it.
    pub async fn flush(&self) {
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

fn finish(call: PendingCall, completion: Completion) -> CallRecord {
    CallRecord {
        context: call.context,
        tool: call.tool,
        input: call.input,
        output: completion.output.map(|o| bound_text(o, MAX_RECORD_TEXT)),
        started_at: call.started_at,
        duration_ms: call.started.elapsed().as_secs_f64() * 1000.0,
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
        PolicyInput::Inline(values) => Ok(values
            .iter()
            .enumerate()
            .map(|(index, value)| SourcedPolicy {
                value: value.clone(),
                file: None,
                index,
            })
            .collect()),
    }
}
