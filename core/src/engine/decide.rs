//! The decision on each call, and what follows from it: a pending call, a
//! refusal's record, an outage handled as the options say.
//!
//! `decide` and `complete` are synchronous and never touch the network: they
//! run on the host's calling thread, so their cost is the governed call's
//! overhead.

use super::agents::{AgentHandle, AgentState, Agents, Registered};
use super::calls::{incomplete, Calls, Completion, PendingCall};
use super::descriptors::ToolDescriptors;
use super::local_approval::HeldCall;
use super::outcome::{Outcome, RemoteVerdict, Ticket, Undecided};
use super::policy_store::PolicyStore;
use super::rounds::CallLink;
use crate::bypass::{BypassReason, BypassReporter};
use crate::control_plane::{enforce_input, Connection, EnforceRequest};
use crate::decision::Violation;
use crate::error::Error;
use crate::log::Logger;
use crate::messages;
use crate::options::{EnforcementMode, OutageMode};
use crate::policy::{ArgumentPlan, ArgumentValue, ValuesVerdict};
use crate::records::pipeline::Pipeline;
use crate::records::record::{
    bound_text, new_trace_id, ApprovalNote, CallContext, CallRecord, CallStatus, DecidedBy,
    Refusal, MAX_RECORD_TEXT,
};
use crate::stats::Stats;
use crate::sync::approval::ApprovalTiming;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// What the engine needs of the options.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub enforcement: EnforcementMode,
    pub on_outage: OutageMode,
    pub first_sync_timeout: Duration,
    pub environment: String,
    /// The approval flow's timeout and poll interval.
    pub approval: ApprovalTiming,
    /// The host has an approver for local `require_approval` policies.
    pub local_approver: bool,
    /// `scanToolOutputs`: every allowed call's result goes to the scan,
    /// whatever the policies say.
    pub scan_tool_outputs: bool,
}

pub struct Engine {
    pub settings: EngineSettings,
    pub policies: Arc<PolicyStore>,
    pub agents: Arc<Agents>,
    pub calls: Calls,
    /// Where records go; `None` when there is nowhere to send them, in
    /// which case no record is even built.
    pub records: Option<Arc<Pipeline>>,
    /// The control plane, when there is an API key.
    pub connection: Option<Arc<Connection>>,
    /// Where calls that went ahead without a decision are reported (a
    /// control plane, unless `reportBypasses: false`).
    pub bypasses: Option<Arc<BypassReporter>>,
    /// The tool definitions agents listed (`toolPins`), for the service's
    /// `tool_integrity` policies.
    pub descriptors: ToolDescriptors,
    pub stats: Arc<Stats>,
    pub log: Arc<Logger>,
    /// Woken whenever a sync finishes or an agent is resolved.
    pub progress: Arc<Notify>,
    /// Woken when a call waiting for an approval is cancelled.
    pub cancels: Notify,
    closed: AtomicBool,
    started: Instant,
}

/// What a refusal's record says.
pub(super) struct Refused {
    pub(super) kind: Refusal,
    pub(super) violations: Vec<Violation>,
    pub(super) warnings: Vec<Violation>,
    pub(super) message: String,
    pub(super) decided_by: DecidedBy,
    /// The round of a multi-round call this call was, if any.
    pub(super) link: Option<CallLink>,
    /// The approval the call waited for, if any.
    pub(super) approval: Option<Box<ApprovalNote>>,
}

/// A call sent again with `state`, the `requestState` that an earlier
/// round announced as the round `link`.
#[derive(Clone, Copy)]
struct RoundOf<'a> {
    state: &'a str,
    link: CallLink,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: EngineSettings,
        policies: Arc<PolicyStore>,
        agents: Arc<Agents>,
        calls: Calls,
        records: Option<Arc<Pipeline>>,
        connection: Option<Arc<Connection>>,
        bypasses: Option<Arc<BypassReporter>>,
        stats: Arc<Stats>,
        log: Arc<Logger>,
        progress: Arc<Notify>,
    ) -> Self {
        Self {
            settings,
            policies,
            agents,
            calls,
            records,
            connection,
            bypasses,
            descriptors: ToolDescriptors::default(),
            stats,
            log,
            progress,
            cancels: Notify::new(),
            closed: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuses every call from now on; true the first time. Calls waiting
    /// for the first sync are woken, to be refused rather than let through
    /// when their wait dies with the runtime.
    pub fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        if first {
            self.progress.notify_waiters();
        }
        first
    }

    /// Resolves once [`Engine::close`] has run (at once if it has).
    pub async fn closing(&self) {
        loop {
            let progressed = self.progress.notified();
            if self.is_closed() {
                return;
            }
            progressed.await;
        }
    }

    fn rejected_key(&self) -> Option<u16> {
        self.connection.as_ref().and_then(|c| c.rejected_key())
    }

    /// True once a call for this agent may be decided: the first sync and
    /// the agent's id lookup are done, or the wait for them has run out.
    fn ready_for(&self, state: &AgentState) -> bool {
        if self.connection.is_none() {
            return true;
        }
        let synced = self.policies.first_sync_done() || self.policies.has_policies();
        if synced && state.resolved.load(Ordering::Acquire) {
            return true;
        }
        Instant::now() >= self.wait_deadline(state)
    }

    fn wait_deadline(&self, state: &AgentState) -> Instant {
        state.registered_at.max(self.started) + self.settings.first_sync_timeout
    }

    /// Resolves when calls for this agent may be decided (see `decide`'s
    /// `WaitForSync`); never later than the first-sync timeout.
    pub async fn wait_for_sync(&self, handle: AgentHandle) {
        let Some(reg) = self.agents.get(handle) else {
            return;
        };
        let deadline = tokio::time::Instant::from_std(self.wait_deadline(&reg.state));
        loop {
            let progressed = self.progress.notified();
            if self.ready_for(&reg.state) || self.is_closed() {
                return;
            }
            tokio::select! {
                _ = progressed => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Decides one call. With `track`, an allowed call stays pending until
    /// [`Engine::complete_many`] reports how it ended (a wrapped call);
    /// without it (a bare decision), only refusals are recorded.
    ///
    /// `completions_owed`: the host still owes reports of how earlier calls
    /// ended. A refusal's record then waits for them (record order, see
    /// [`super::calls`]).
    pub fn decide(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        track: bool,
        completions_owed: bool,
    ) -> Result<Outcome, Error> {
        self.decide_round(handle, tool, args_json, track, completions_owed, None)
    }

    /// [`Engine::decide`] for a call sent with a `requestState` (a round of
    /// a multi-round call): whatever record the decision makes, a refusal
    /// or the call's, is linked to the earlier rounds'. Only an allowed
    /// round takes its round's place (see [`Calls::take_round`]).
    pub fn decide_round(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        track: bool,
        completions_owed: bool,
        request_state: Option<&str>,
    ) -> Result<Outcome, Error> {
        if self.is_closed() {
            return Ok(Outcome::Closed);
        }
        let reg = self
            .agents
            .get(handle)
            .ok_or_else(|| Error::invalid_argument(format!("unknown agent handle {handle}")))?;
        let (state, context) = (reg.state, reg.context);
        if !self.ready_for(&state) {
            return Ok(Outcome::WaitForSync);
        }
        let round = request_state.and_then(|sent_with| {
            let link = self.calls.round_of(sent_with, &context)?;
            Some(RoundOf {
                state: sent_with,
                link,
            })
        });
        let link = round.map(|r| r.link);
        Stats::bump(&self.stats.decisions);

        if let Some(status) = self.rejected_key() {
            Stats::bump(&self.stats.blocked);
            return Ok(Outcome::AuthFailed { status });
        }

        let status = state.status.load();
        if status.paused {
            Stats::bump(&self.stats.blocked);
            let reason = status.reason.clone();
            let refused = Refused {
                kind: Refusal::AgentPaused,
                violations: vec![],
                warnings: vec![],
                message: messages::paused(&context.agent_id, reason.as_deref()),
                decided_by: DecidedBy::Local,
                link,
                approval: None,
            };
            let agent_id = context.agent_id.to_string();
            self.record_refusal(context, tool, args_json, refused, completions_owed);
            return Ok(Outcome::Paused { agent_id, reason });
        }

        // With `enforcement: 'remote'` the server decides every call: no
        // local set yet is no reason not to ask it.
        if self.connection.is_some()
            && !self.policies.has_policies()
            && self.settings.enforcement != EnforcementMode::Remote
        {
            return Ok(self.outage(
                context,
                tool,
                args_json,
                vec![],
                track,
                (messages::NO_POLICIES_YET.into(), self.sync_gap_reason()),
                completions_owed,
                round,
            ));
        }

        let mut decision =
            self.policies
                .current()
                .evaluate(&state.identity.load(), &tool, args_json.as_deref());
        if !reg.enforce && decision.is_blocked() {
            let blocking = std::mem::take(&mut decision.violations);
            decision.warnings.extend(blocking);
        }
        if decision.is_blocked() {
            Stats::bump(&self.stats.blocked);
            let outcome = Outcome::Block {
                violations: decision.violations.clone(),
                warnings: decision.warnings.clone(),
            };
            let refused = Refused {
                kind: Refusal::PolicyBlocked,
                message: messages::blocked(&decision.violations),
                violations: decision.violations,
                warnings: decision.warnings,
                decided_by: DecidedBy::Local,
                link,
                approval: None,
            };
            self.record_refusal(context, tool, args_json, refused, completions_owed);
            return Ok(outcome);
        }

        let needs_server = self.connection.is_some()
            && (decision.needs_server || self.settings.enforcement == EnforcementMode::Remote);
        if !decision.approvals.is_empty() {
            if reg.enforce {
                let held = HeldCall {
                    context,
                    tool,
                    args_json,
                    track,
                    needs_server,
                    link,
                };
                return Ok(self.hold_for_approver(held, decision, completions_owed));
            }
            // Monitor mode: what would need approval is a warning.
            let held = std::mem::take(&mut decision.approvals);
            decision.warnings.extend(held);
        }

        if needs_server {
            let ticket = self.start_pending(
                context,
                tool,
                args_json,
                decision.warnings.clone(),
                track,
                DecidedBy::Remote,
                true,
            );
            if !reg.enforce || round.is_some() {
                if let Some(call) = self.calls.lock().get_mut(&ticket) {
                    call.monitor_only = !reg.enforce;
                    // Taken once the server allows it (`allow_pending`).
                    call.link = link;
                    call.unsent_round = round.map(|r| r.state.to_owned());
                }
            }
            return Ok(Outcome::AskServer {
                ticket,
                warnings: decision.warnings,
            });
        }
        if decision.needs_server {
            // Local mode: nobody can make the server's part of the decision.
            // That is an outage by another name, and handled the same way.
            return Ok(self.outage(
                context,
                tool,
                args_json,
                decision.warnings,
                track,
                (
                    messages::SERVER_ONLY_IN_LOCAL_MODE.into(),
                    BypassReason::NetworkError,
                ),
                completions_owed,
                round,
            ));
        }

        Stats::bump(&self.stats.allowed);
        if !decision.warnings.is_empty() {
            Stats::bump(&self.stats.warned);
        }
        let ticket = track.then(|| {
            self.start_pending(
                context,
                tool,
                args_json,
                decision.warnings.clone(),
                true,
                DecidedBy::Local,
                false,
            )
        });
        if let Some(ticket) = ticket {
            self.enter_round(ticket, round);
        }
        Ok(Outcome::Allow {
            ticket,
            warnings: decision.warnings,
            bypass: None,
            approval: None,
        })
    }

    /// The allowed call `ticket` is `round`, about to be sent: its record
    /// is linked, and it takes the round's place.
    fn enter_round(&self, ticket: Ticket, round: Option<RoundOf<'_>>) {
        let Some(round) = round else {
            return;
        };
        self.calls.take_round(round.state, round.link);
        if let Some(call) = self.calls.lock().get_mut(&ticket) {
            call.link = Some(round.link);
        }
    }

    /// Records a call that the host refused on a check of its own, one the
    /// policies cannot make (the MCP wrapper's pinned tool definitions):
    /// counted and recorded like a policy block, with the host's
    /// violations, so the audit trail has every refused call whoever
    /// refused it. Returns the message to show. `completions_owed`: as in
    /// [`Engine::decide`]; `request_state`: as in [`Engine::decide_round`].
    pub fn refuse_by_host(
        &self,
        handle: AgentHandle,
        tool: String,
        args_json: Option<String>,
        violations: Vec<Violation>,
        completions_owed: bool,
        request_state: Option<&str>,
    ) -> Result<String, Error> {
        if violations.is_empty() {
            return Err(Error::invalid_argument(
                "a refusal needs at least one violation",
            ));
        }
        let reg = self
            .agents
            .get(handle)
            .ok_or_else(|| Error::invalid_argument(format!("unknown agent handle {handle}")))?;
        let message = messages::blocked(&violations);
        if self.is_closed() {
            return Ok(message);
        }
        Stats::bump(&self.stats.decisions);
        Stats::bump(&self.stats.blocked);
        let refused = Refused {
            kind: Refusal::PolicyBlocked,
            message: message.clone(),
            violations,
            warnings: vec![],
            decided_by: DecidedBy::Local,
            link: request_state.and_then(|s| self.calls.round_of(s, &reg.context)),
            approval: None,
        };
        self.record_refusal(reg.context, tool, args_json, refused, completions_owed);
        Ok(message)
    }

    /// The hot path's shortcut: decides a tracked call on its tool name
    /// alone, when that is enough. Returns the ticket of a call that is
    /// allowed with nothing to report (no warning, no server involved, no
    /// argument rule on the tool); otherwise why not, having counted and
    /// recorded nothing: the host then calls [`Engine::decide`] with the
    /// arguments. The arguments of a call allowed here reach its record
    /// through [`Completion::input`].
    pub fn decide_by_tool(&self, handle: AgentHandle, tool: &str) -> Result<Ticket, Undecided> {
        let reg = self.shortcut_ready(handle)?;
        let decision = self
            .policies
            .current()
            .evaluate_tool(&reg.state.identity.load(), tool)
            .ok_or(Undecided::NeedsArguments)?;
        if !decision.is_clean() {
            return Err(Undecided::Other);
        }
        Ok(self.allow_clean(reg, tool))
    }

    /// The plan `decide_values` takes values for: `tool` called by the
    /// agent of `handle` (`None`: no such agent).
    pub fn argument_plan(&self, handle: AgentHandle, tool: &str) -> Option<ArgumentPlan> {
        let reg = self.agents.get(handle)?;
        Some(
            self.policies
                .current()
                .argument_plan(&reg.state.identity.load(), tool),
        )
    }

    /// The values path, `decide_by_tool` for a tool with argument rules:
    /// the host read the values at the lookups of plan `plan_id` (from
    /// `argument_plan`) and passes them, not the whole arguments. Returns
    /// the ticket of a call that every rule allows with nothing to report;
    /// `Stale` when that plan is no longer the one in force (read the new
    /// one and try again); otherwise `Other`, having counted and recorded
    /// nothing: the host then calls [`Engine::decide`] with the arguments.
    pub fn decide_values(
        &self,
        handle: AgentHandle,
        tool: &str,
        plan_id: u64,
        values: &[ArgumentValue],
    ) -> Result<Ticket, Undecided> {
        let reg = self.shortcut_ready(handle)?;
        let verdict = self.policies.current().evaluate_values(
            &reg.state.identity.load(),
            tool,
            plan_id,
            values,
        );
        match verdict {
            ValuesVerdict::Clean => Ok(self.allow_clean(reg, tool)),
            ValuesVerdict::Stale => Err(Undecided::Stale),
            ValuesVerdict::NeedsFull => Err(Undecided::Other),
        }
    }

    /// The agent's registration when a shortcut (`decide_by_tool`,
    /// `decide_values`) may decide its call: nothing but the policies
    /// stands in the way (no control plane to ask, no pause, no wait).
    /// `enforce` only turns violations into warnings, so a clean decision
    /// is the same either way.
    fn shortcut_ready(&self, handle: AgentHandle) -> Result<Registered, Undecided> {
        if self.is_closed() {
            return Err(Undecided::Other);
        }
        let reg = self.agents.get(handle).ok_or(Undecided::Other)?;
        if let Some(c) = &self.connection {
            if self.settings.enforcement == EnforcementMode::Remote
                || c.rejected_key().is_some()
                || !self.policies.has_policies()
            {
                return Err(Undecided::Other);
            }
        }
        if !self.ready_for(&reg.state) || reg.state.status.load().paused {
            return Err(Undecided::Other);
        }
        Ok(reg)
    }

    /// A shortcut's allowed call: counted, and tracked when there is a
    /// record to make (its arguments come with its completion).
    fn allow_clean(&self, reg: Registered, tool: &str) -> Ticket {
        Stats::bump(&self.stats.decisions);
        Stats::bump(&self.stats.allowed);
        if self.records.is_none() {
            return 0; // nothing to record (see `start_pending`)
        }
        self.start_pending(
            reg.context,
            tool.to_owned(),
            None,
            vec![],
            true,
            DecidedBy::Local,
            false,
        )
    }

    /// Why no policy set has come yet, as a bypass-window reason.
    fn sync_gap_reason(&self) -> BypassReason {
        let open = self
            .connection
            .as_ref()
            .is_some_and(|c| c.breaker.consecutive_failures() >= c.breaker.threshold());
        if open {
            BypassReason::CircuitBreakerOpen
        } else {
            BypassReason::NetworkError
        }
    }

    /// No decision can be had: `enforcementOnOutage` says what happens.
    #[allow(clippy::too_many_arguments)]
    fn outage(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        track: bool,
        (reason, kind): (String, BypassReason),
        hold_record: bool,
        round: Option<RoundOf<'_>>,
    ) -> Outcome {
        match self.settings.on_outage {
            OutageMode::FailClosed => self.unavailable(
                context,
                tool,
                args_json,
                warnings,
                reason,
                hold_record,
                round.map(|r| r.link),
            ),
            OutageMode::FailOpen => {
                Stats::bump(&self.stats.allowed);
                Stats::bump(&self.stats.bypassed);
                if let Some(b) = &self.bypasses {
                    let failures = self
                        .connection
                        .as_ref()
                        .map_or(0, |c| c.consecutive_failures());
                    b.record(&context.agent_id, kind, &reason, failures);
                }
                // The first bypass is said even without `debug`: calls are
                // going through unchecked, and the user chose that.
                let said = self
                    .log
                    .said_once("first-bypass", || messages::first_bypass(&tool, &reason));
                if !said {
                    self.log
                        .debug(|| format!("enforcement bypassed for tool {tool:?}: {reason}"));
                }
                let ticket = track.then(|| {
                    self.start_pending(
                        context,
                        tool,
                        args_json,
                        warnings.clone(),
                        true,
                        DecidedBy::Bypassed,
                        false,
                    )
                });
                if let Some(ticket) = ticket {
                    self.enter_round(ticket, round);
                }
                Outcome::Allow {
                    ticket,
                    warnings,
                    bypass: Some(reason),
                    approval: None,
                }
            }
        }
    }

    /// Refuses a call no decision could be had for, with
    /// `EnforcementUnavailableError`, whatever `enforcementOnOutage` says.
    #[allow(clippy::too_many_arguments)]
    fn unavailable(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        reason: String,
        hold_record: bool,
        link: Option<CallLink>,
    ) -> Outcome {
        Stats::bump(&self.stats.blocked);
        let refused = Refused {
            kind: Refusal::EnforcementUnavailable,
            violations: vec![],
            warnings,
            message: reason.clone(),
            decided_by: DecidedBy::Local,
            link,
            approval: None,
        };
        self.record_refusal(context, tool, args_json, refused, hold_record);
        Outcome::Unavailable {
            reason,
            consecutive_failures: self
                .connection
                .as_ref()
                .map_or(0, |c| c.consecutive_failures()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_pending(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        warnings: Vec<Violation>,
        record_completion: bool,
        decided_by: DecidedBy,
        keep_args: bool,
    ) -> Ticket {
        if self.records.is_none() && !keep_args {
            // Nowhere to record to and nothing to ask: keep nothing. The
            // ticket 0 tells the host there is nothing to report either.
            return 0;
        }
        let (input, args_full) = match args_json {
            Some(a) if keep_args => (Some(bound_text(a.clone(), MAX_RECORD_TEXT)), Some(a)),
            Some(a) => (Some(bound_text(a, MAX_RECORD_TEXT)), None),
            None => (None, None),
        };
        let (ticket, evicted) = self.calls.start(PendingCall {
            context,
            tool,
            input,
            args_full,
            record_completion,
            started_at: SystemTime::now(),
            started: Instant::now(),
            warnings,
            decided_by,
            monitor_only: false,
            link: None,
            unsent_round: None,
            approval: None,
            server_after_approval: false,
            output_scan: None,
        });
        if let Some(call) = evicted.filter(|c| c.record_completion) {
            self.push_records([incomplete(call)]);
        }
        ticket
    }

    /// See [`Calls::open_next_round`].
    pub fn open_next_round(&self, ticket: Ticket, request_state: String) -> bool {
        self.calls.open_next_round(ticket, request_state)
    }

    /// Reports how several calls ended, in the order given; then the
    /// refusals held for them (record order).
    pub fn complete_many(&self, completions: impl IntoIterator<Item = (Ticket, Completion)>) {
        let done = self.calls.complete_many(completions);
        let held = self.calls.take_held();
        self.push_records(done.chain(held));
    }

    pub(super) fn record_refusal(
        &self,
        context: CallContext,
        tool: String,
        args_json: Option<String>,
        refused: Refused,
        hold: bool,
    ) {
        if self.records.is_none() {
            return;
        }
        let record = CallRecord {
            trace_id: new_trace_id(),
            link: refused.link,
            done_by: 0,
            context,
            tool,
            input: args_json.map(|a| bound_text(a, MAX_RECORD_TEXT).into()),
            output: None,
            started_at: SystemTime::now(),
            duration_ms: 0.0,
            status: CallStatus::PolicyBlocked,
            error_message: Some(refused.message),
            error_type: Some(Cow::Borrowed(refused.kind.record_text())),
            violations: refused.violations,
            warnings: refused.warnings,
            decided_by: refused.decided_by,
            approval: refused.approval,
            output_scan: None,
        };
        if hold {
            self.calls.hold(record);
        } else {
            self.push_records([record]);
        }
    }

    /// Everything held goes to the sinks' buffer (a flush).
    /// Calls sent whose completion is still owed.
    pub fn open_calls(&self) -> usize {
        self.calls.open()
    }

    /// Records every call still open as sent with its outcome unknown (a
    /// shutdown that waited long enough); returns how many.
    pub fn record_open_calls(&self) -> usize {
        let records = self.calls.take_open();
        let n = records.len();
        self.push_records(records);
        n
    }

    pub fn release_held(&self) {
        let held = self.calls.take_held();
        self.push_records(held);
    }

    fn push_records(&self, records: impl IntoIterator<Item = CallRecord>) {
        if let Some(p) = &self.records {
            p.push(records);
        }
    }

    // ---- the control plane's part (see `sync::remote`) ----

    /// The request that asks the control plane about the pending call
    /// `ticket` (from an `AskServer` outcome). `input` overrides the text
    /// view of the arguments. `None`: there is no such call.
    pub fn remote_request(&self, ticket: Ticket, input: Option<String>) -> Option<EnforceRequest> {
        let pending = self.calls.lock();
        let call = pending.get(&ticket)?;
        let arguments: Value = call
            .args_full
            .as_deref()
            .map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.to_string())))
            .unwrap_or(Value::Null);
        let mut req = EnforceRequest::for_tool_call(
            call.context.agent_id.to_string(),
            self.settings.environment.clone(),
            &call.tool,
            arguments,
        );
        if let Some(i) = input {
            req.input = enforce_input(&call.tool, &Value::String(i));
        }
        req.tool_descriptors = self.descriptors.for_agent(&call.context.agent_id);
        Stats::bump(&self.stats.remote_decisions);
        Some(req)
    }

    /// The outcome of a pending call once the control plane's verdict is in.
    pub fn apply_verdict(&self, ticket: Ticket, verdict: RemoteVerdict) -> Outcome {
        if let Some(b) = &self.bypasses {
            if verdict.is_decision() {
                b.recovered();
            }
        }
        match verdict {
            RemoteVerdict::Allowed { warnings } => self.allow_pending(ticket, warnings),
            RemoteVerdict::Blocked { violations } => {
                let monitor_only = self
                    .calls
                    .lock()
                    .get(&ticket)
                    .is_some_and(|c| c.monitor_only);
                if monitor_only {
                    // Monitor mode: the server's refusal is a warning.
                    self.allow_pending(ticket, violations)
                } else {
                    self.block_pending(ticket, violations)
                }
            }
            // Monitor mode (the governor waits for an enforcing agent's
            // approvals): the server's demand is a warning.
            RemoteVerdict::ApprovalRequired(id) => {
                let violation = approval_violation(id.as_deref(), &self.calls, ticket);
                self.allow_pending(ticket, vec![violation])
            }
            RemoteVerdict::AuthFailed(status) => {
                self.calls.take(ticket);
                Stats::bump(&self.stats.blocked);
                Outcome::AuthFailed { status }
            }
            RemoteVerdict::Undecided(reason) => {
                let Some(call) = self.calls.take(ticket) else {
                    return Outcome::Closed;
                };
                self.unavailable(
                    call.context,
                    call.tool,
                    call.input,
                    call.warnings,
                    reason,
                    false,
                    call.link,
                )
            }
            RemoteVerdict::Outage(reason, kind) => {
                let Some(call) = self.calls.take(ticket) else {
                    return Outcome::Closed;
                };
                let round = call
                    .unsent_round
                    .as_deref()
                    .zip(call.link)
                    .map(|(state, link)| RoundOf { state, link });
                self.outage(
                    call.context,
                    call.tool,
                    call.input,
                    call.warnings,
                    call.record_completion,
                    (reason, kind),
                    false,
                    round,
                )
            }
        }
    }

    pub(super) fn allow_pending(&self, ticket: Ticket, remote_warnings: Vec<Violation>) -> Outcome {
        Stats::bump(&self.stats.allowed);
        let mut pending = self.calls.lock();
        let Some(call) = pending.get_mut(&ticket) else {
            return Outcome::Closed;
        };
        call.warnings.extend(remote_warnings);
        call.args_full = None;
        let sent_round = call.unsent_round.take().zip(call.link);
        let warnings = call.warnings.clone();
        let approval = call.approval.clone();
        if !warnings.is_empty() {
            Stats::bump(&self.stats.warned);
        }
        let ticket = if call.record_completion {
            Some(ticket)
        } else {
            pending.remove(&ticket);
            None
        };
        drop(pending);
        if let Some((state, link)) = sent_round {
            self.calls.take_round(&state, link);
        }
        Outcome::Allow {
            ticket,
            warnings,
            bypass: None,
            approval,
        }
    }

    fn block_pending(&self, ticket: Ticket, violations: Vec<Violation>) -> Outcome {
        Stats::bump(&self.stats.blocked);
        let Some(call) = self.calls.take(ticket) else {
            return Outcome::Closed;
        };
        let outcome = Outcome::Block {
            violations: violations.clone(),
            warnings: call.warnings.clone(),
        };
        let refused = Refused {
            kind: Refusal::PolicyBlocked,
            message: messages::blocked(&violations),
            violations,
            warnings: call.warnings,
            decided_by: call.decided_by,
            link: call.link,
            approval: None,
        };
        self.record_refusal(call.context, call.tool, call.input, refused, false);
        outcome
    }
}

/// The warning of a monitor-only call the control plane wanted approved.
fn approval_violation(id: Option<&str>, calls: &Calls, ticket: Ticket) -> Violation {
    let id = id.unwrap_or("unknown");
    Violation {
        policy_name: "Human approval".into(),
        policy_type: "approval".into(),
        enforcement_mode: "require_approval".into(),
        message: format!(
            "a human must approve this call (approval request {id}); monitor only, not waited for"
        ),
        rule: Some("approval_required".into()),
        tool: calls.lock().get(&ticket).map(|c| c.tool.clone()),
        extra: [(
            "approvalRequestId".to_string(),
            Value::String(id.to_owned()),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}
