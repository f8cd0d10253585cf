//! A pending call that needs a human's approval: the wait (on the core's
//! runtime, never the host's thread), raced against what must end it at
//! once (shutdown, a pause, the caller cancelling), and its end: the call
//! goes ahead once, or it is refused and recorded as such.

use super::calls::PendingCall;
use super::decide::{Engine, Refused};
use super::local_approval::LOCAL_APPROVAL_ID;
use super::outcome::{Outcome, Ticket};
use crate::control_plane::{Connection, EnforceRequest};
use crate::messages;
use crate::records::record::{
    new_trace_id, ApprovalNote, CallRecord, CallStatus, DecidedBy, Refusal,
};
use crate::stats::Stats;
use crate::sync::approval::{await_approval, ApprovalFailure, ApprovalRefusal};
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::oneshot;

/// What a caller that also asks a person (the `execlave-mcp` relay, in
/// its host's window) learns and decides about a service approval. The
/// default is the SDK's flow: nobody else is asked.
#[derive(Default)]
pub struct ApprovalHooks {
    /// Told the approval request's id once the call waits for it.
    pub on_pending: Option<oneshot::Sender<String>>,
    /// When given, the approved certificate is verified (and so used) only
    /// once this is sent: a person who declines costs no certificate. A
    /// sender dropped unsent refuses the call.
    pub consent: Option<oneshot::Receiver<()>>,
}

/// Why the wait ended before the approval was decided.
enum Interrupted {
    Closed,
    Paused {
        agent_id: String,
        reason: Option<String>,
    },
    Cancelled,
}

impl Engine {
    /// Waits for approval request `id` of the pending call `ticket`, whose
    /// enforce request was `request`, and settles the call.
    pub async fn wait_for_approval(
        &self,
        connection: &Connection,
        ticket: Ticket,
        id: Option<String>,
        request: &EnforceRequest,
        hooks: ApprovalHooks,
    ) -> Outcome {
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            let refusal = ApprovalRefusal::new(ApprovalFailure::Unverifiable, "unknown")
                .with_cause(
                    "the control plane asked for an approval (HTTP 202) without a usable \
                 approvalRequestId",
                );
            return self.refuse_approval(ticket, refusal, 0.0);
        };
        let started = Instant::now();
        match self.calls.lock().get_mut(&ticket) {
            Some(call) => call.approval = Some(note(&id, "waiting", 0.0)),
            // Cancelled while enforce was asked: nothing more is sent.
            None => return Outcome::Cancelled,
        }
        if let Some(tx) = hooks.on_pending {
            let _ = tx.send(id.clone());
        }
        let waiting = Waiting::new(&self.stats);
        // Biased: what ends the wait is looked at before anything is sent.
        let result = tokio::select! {
            biased;
            _ = self.closing() => Err(Interrupted::Closed),
            (agent_id, reason) = self.paused_during(&request.agent_id) => {
                Err(Interrupted::Paused { agent_id, reason })
            }
            _ = self.cancelled(ticket) => Err(Interrupted::Cancelled),
            r = await_approval(connection, &self.log, &id, request, self.settings.approval, hooks.consent) => Ok(r),
        };
        drop(waiting);
        let waited_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(Ok(())) if !self.is_closed() => {
                Stats::bump(&self.stats.approvals_granted);
                self.grant(ticket, &id, waited_ms)
            }
            Ok(Ok(())) | Err(Interrupted::Closed) => {
                self.calls.take(ticket);
                Outcome::Closed
            }
            Ok(Err(refusal)) => self.refuse_approval(ticket, refusal, waited_ms),
            Err(Interrupted::Paused { agent_id, reason }) => {
                Stats::bump(&self.stats.approvals_refused);
                if let Some(call) = self.calls.take(ticket) {
                    let note = note(&id, "paused", waited_ms);
                    let refused = Refused::new(
                        Refusal::AgentPaused,
                        messages::paused(&agent_id, reason.as_deref()),
                        &call,
                    );
                    self.record_approval_refusal(call, refused, note);
                }
                Outcome::Paused { agent_id, reason }
            }
            // Recorded by `cancel`, which took the call.
            Err(Interrupted::Cancelled) => Outcome::Cancelled,
        }
    }

    /// The approved call goes ahead, once: its record says so.
    fn grant(&self, ticket: Ticket, id: &str, waited_ms: f64) -> Outcome {
        if let Some(call) = self.calls.lock().get_mut(&ticket) {
            call.approval = Some(note(id, "granted", waited_ms));
        }
        self.allow_pending(ticket, vec![])
    }

    /// Refuses the pending call `ticket` for `refusal`, and records it.
    pub fn refuse_approval(
        &self,
        ticket: Ticket,
        refusal: ApprovalRefusal,
        waited_ms: f64,
    ) -> Outcome {
        Stats::bump(&self.stats.blocked);
        Stats::bump(&self.stats.approvals_refused);
        if let Some(call) = self.calls.take(ticket) {
            let outcome = failure_text(refusal.failure);
            let note = note(&refusal.approval_request_id, outcome, waited_ms);
            let refused =
                Refused::new(Refusal::Approval(refusal.failure), refusal.message(), &call);
            self.record_approval_refusal(call, refused, note);
        }
        Outcome::ApprovalRefused { refusal }
    }

    fn record_approval_refusal(
        &self,
        call: PendingCall,
        mut refused: Refused,
        note: Box<ApprovalNote>,
    ) {
        refused.approval = Some(note);
        self.record_refusal(call.context, call.tool, call.input, refused, false);
    }

    /// The caller gave up on the pending call `ticket` while it waited for
    /// an approval: it is dropped (nothing more is sent for it), recorded
    /// as cancelled, and its wait ends. False: no such pending call.
    pub fn cancel(&self, ticket: Ticket) -> bool {
        self.cancel_because(ticket, None)
    }

    /// As [`Engine::cancel`], with why (`reason`, e.g. the person declined
    /// in the host's window) in the record's error message.
    pub fn cancel_because(&self, ticket: Ticket, reason: Option<&str>) -> bool {
        let Some(call) = self.calls.take(ticket) else {
            return false;
        };
        self.cancels.notify_waiters();
        // A call held for the local approver is counted as waiting until
        // settled (a service approval's wait counts itself).
        if call
            .approval
            .as_ref()
            .is_some_and(|a| a.id == LOCAL_APPROVAL_ID)
        {
            self.stats.approvals_waiting.fetch_sub(1, Ordering::Relaxed);
        }
        let waited_ms = call.started.elapsed().as_secs_f64() * 1000.0;
        if let Some(records) = &self.records {
            records.push([CallRecord {
                trace_id: new_trace_id(),
                link: call.link,
                done_by: 0,
                context: call.context,
                tool: call.tool,
                input: call.input.map(Into::into),
                output: None,
                started_at: call.started_at,
                duration_ms: waited_ms,
                status: CallStatus::Error,
                error_message: Some(match reason {
                    None => messages::CANCELLED.into(),
                    Some(why) => format!("{why}; the call was not sent"),
                }),
                error_type: Some(Cow::Borrowed("Cancelled")),
                violations: vec![],
                warnings: call.warnings,
                decided_by: DecidedBy::Remote,
                approval: call.approval.map(|a| note(&a.id, "cancelled", waited_ms)),
                output_scan: None,
            }]);
        }
        true
    }

    /// Resolves when the pending call `ticket` is gone (cancelled).
    async fn cancelled(&self, ticket: Ticket) {
        loop {
            let woken = self.cancels.notified();
            if !self.calls.lock().contains_key(&ticket) {
                return;
            }
            woken.await;
        }
    }

    /// Resolves with the agent's id and reason once the kill switch pauses
    /// `agent_id`; never for an agent it does not know.
    async fn paused_during(&self, agent_id: &str) -> (String, Option<String>) {
        let state = self
            .agents
            .all()
            .into_iter()
            .find(|(id, _)| id == agent_id)
            .map(|(_, s)| s);
        let Some(state) = state else {
            return std::future::pending().await;
        };
        loop {
            let woken = self.progress.notified();
            let status = state.status.load();
            if status.paused {
                return (agent_id.to_owned(), status.reason.clone());
            }
            woken.await;
        }
    }
}

/// Counts one wait in `approvals_waiting` for as long as it lives: also a
/// wait whose future is dropped (the runtime shut down under it).
struct Waiting<'a>(&'a Stats);

impl<'a> Waiting<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.approvals_waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(stats)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.approvals_waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Refused {
    fn new(kind: Refusal, message: String, call: &PendingCall) -> Self {
        Refused {
            kind,
            violations: vec![],
            warnings: call.warnings.clone(),
            message,
            decided_by: call.decided_by,
            link: call.link,
            approval: None,
        }
    }
}

fn note(id: &str, outcome: &'static str, waited_ms: f64) -> Box<ApprovalNote> {
    Box::new(ApprovalNote {
        id: id.to_owned(),
        outcome,
        waited_ms: (waited_ms * 1000.0).round() / 1000.0,
    })
}

fn failure_text(failure: ApprovalFailure) -> &'static str {
    match failure {
        ApprovalFailure::Denied => "denied",
        ApprovalFailure::TimedOut => "timed_out",
        ApprovalFailure::CertificateMismatch => "certificate_mismatch",
        ApprovalFailure::Unverifiable => "unverifiable",
    }
}
