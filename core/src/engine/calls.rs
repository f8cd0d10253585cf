//! Calls between their decision and their end: tickets, the pending
//! calls, how a call ended ([`Completion`]), and the record order.
//!
//! Record order: records go out in the order calls ended or were refused.
//! A host may report how calls ended some time after they did (in
//! batches); while it owes such reports, a refusal's record is held back
//! and released after them, or by a flush.

use super::outcome::Ticket;
use super::rounds::{CallLink, OpenRounds};
use crate::clock;
use crate::decision::Violation;
use crate::error::Error;
use crate::messages;
use crate::records::record::{
    bound_record_text, bound_text, new_trace_id, ApprovalNote, CallContext, CallRecord, CallStatus,
    DecidedBy, RecordText, INCOMPLETE, MAX_RECORD_TEXT,
};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

pub struct PendingCall {
    pub context: CallContext,
    pub tool: String,
    pub input: Option<String>,
    /// The whole arguments, kept only while the control plane decides.
    pub args_full: Option<String>,
    /// Record the call when it completes (a wrapped call), or only when it
    /// is refused (a bare decision).
    pub record_completion: bool,
    pub started_at: SystemTime,
    pub started: Instant,
    pub warnings: Vec<Violation>,
    pub decided_by: DecidedBy,
    /// The agent was registered with `enforce: false`: a refusal by the
    /// server becomes a warning, as a local violation does.
    pub monitor_only: bool,
    /// The rounds of a multi-round call this call belongs to (see
    /// [`super::rounds`]); `None` for an ordinary call.
    pub link: Option<CallLink>,
    /// The `requestState` of a round that waits for the control plane's
    /// decision: once allowed (sent), it takes the round's place.
    pub unsent_round: Option<String>,
    /// The approval this call waited for, for its record.
    pub approval: Option<Box<ApprovalNote>>,
    /// Held back for the local approver, the call also needs the control
    /// plane's decision once approved.
    pub server_after_approval: bool,
    /// What the scan of its result made of it, for its record.
    pub output_scan: Option<&'static str>,
}

/// How a call ended, as its host saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ending {
    /// It answered; `output` is the answer's JSON text.
    #[default]
    Answered,
    /// It answered with `isError: true`.
    AnsweredIsError,
    /// It threw: the error's message and the host's name for its type.
    Threw {
        message: Option<String>,
        error_type: Option<String>,
    },
}

/// How a completed call ended, as the host saw it.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// When the call ended (its answer or error arrived); the call's
    /// duration runs from its decision to then. `None`: it ended now. A
    /// host that reports completions in batches must give it, or the
    /// batching delay would count as the call's.
    pub ended_at: Option<Instant>,
    pub ending: Ending,
    /// The answer's JSON text (not for a call that threw).
    pub output: Option<RecordText>,
    /// The call's arguments as JSON text, for a call decided without them
    /// (`decide_by_tool`); ignored when the decision had them.
    pub input: Option<RecordText>,
}

impl Completion {
    pub fn answered(output: Option<String>) -> Self {
        Self {
            ended_at: None,
            ending: Ending::Answered,
            output: output.map(RecordText::from),
            input: None,
        }
    }

    pub fn threw(message: Option<String>, error_type: Option<String>) -> Self {
        Self {
            ended_at: None,
            ending: Ending::Threw {
                message,
                error_type,
            },
            output: None,
            input: None,
        }
    }
}

/// How a call ended, as the third number per call of [`decode_batch`]
/// says it: 0 answered, 1 answered with `isError`, 2 threw.
const THREW: u32 = 2;
const ANSWERED_IS_ERROR: u32 = 1;

/// Added to that number: the answer had no JSON form (`undefined` in JS),
/// so its record has no output. Its slot in the texts holds `null`, which
/// cannot tell that apart from an answer `null`.
pub const NO_OUTPUT: u32 = 4;

/// How the call ended and whether its answer has a text, from its code.
fn ending_code(code: f64) -> (u32, bool) {
    let code = code as u32; // saturating; NaN is 0
    (code & !NO_OUTPUT, code & NO_OUTPUT == 0)
}

/// How a host hands many completions over in one crossing, with the least
/// to convert: one string for all record texts rather than two per call.
///
/// - `numbers`: three per call: ticket; when it ended, in the host's
///   clock's milliseconds; how it ended (0 answered, 1 answered with
///   `isError`, 2 threw), plus [`NO_OUTPUT`] for an answer without a JSON
///   form.
/// - `texts_json`: a JSON array of two arrays, each with one value per
///   call: the arguments (`null`: none) and the answers (`null` for a call
///   that threw). Each value's JSON text, exactly as the host wrote it,
///   becomes the record's `input` / `output`: the host serialises the
///   whole batch at once, and the records share the one string (see
///   [`RecordText`]).
/// - `thrown`: two strings per call that threw, in order: the error's
///   message and the host's name for its type. Kept apart as strings, not
///   JSON: a message is not JSON, and need not be valid Unicode.
/// - `host_offset_ms`: the core's clock ([`clock::now_ms`]) minus the
///   host's, read side by side.
pub fn decode_batch(
    numbers: &[f64],
    texts_json: String,
    thrown: Vec<String>,
    host_offset_ms: f64,
) -> Result<Vec<(Ticket, Completion)>, Error> {
    let calls = numbers.len() / 3;
    if numbers.len() != calls * 3 {
        return Err(Error::invalid_argument(format!(
            "completeBatch: {} numbers (three per call expected)",
            numbers.len()
        )));
    }
    // Where each value's text lies in `texts_json`: validated, never parsed
    // into a tree, never copied.
    let texts: Arc<str> = texts_json.into();
    let (inputs, outputs): (Vec<&RawValue>, Vec<&RawValue>) = serde_json::from_str(&texts)
        .map_err(|e| Error::invalid_argument(format!("completeBatch: record texts: {e}")))?;
    let at = |raw: &RawValue| {
        let start = raw.get().as_ptr() as usize - texts.as_ptr() as usize;
        let range = start..start + raw.get().len();
        RecordText::shared(&texts, range).expect("a value parsed from the text is a slice of it")
    };
    if inputs.len() != calls || outputs.len() != calls {
        return Err(Error::invalid_argument(format!(
            "completeBatch: {} inputs and {} outputs for {calls} calls (one each per call expected)",
            inputs.len(),
            outputs.len()
        )));
    }
    let threw = numbers
        .chunks_exact(3)
        .filter(|n| ending_code(n[2]).0 == THREW)
        .count();
    if thrown.len() != threw * 2 {
        return Err(Error::invalid_argument(format!(
            "completeBatch: {} thrown texts for {threw} calls that threw (two per call expected)",
            thrown.len()
        )));
    }
    let now = Instant::now();
    let mut thrown = thrown.into_iter();
    let calls = numbers.chunks_exact(3).zip(inputs).zip(outputs);
    Ok(calls
        .map(|((n, input), output)| {
            let ended_at = Some(clock::instant_at(n[1] + host_offset_ms, now));
            let (code, has_output) = ending_code(n[2]);
            let output = has_output.then(|| at(output));
            let (ending, output) = match code {
                THREW => (
                    Ending::Threw {
                        message: thrown.next(),
                        error_type: thrown.next(),
                    },
                    None,
                ),
                ANSWERED_IS_ERROR => (Ending::AnsweredIsError, output),
                _ => (Ending::Answered, output),
            };
            // Arguments `null` are no arguments (the host sends none).
            let input = (input.get() != "null").then(|| at(input));
            let completion = Completion {
                ended_at,
                ending,
                output,
                input,
            };
            (n[0] as Ticket, completion)
        })
        .collect())
}

/// The pending calls by ticket, oldest first (the first is the one evicted
/// past `max_pending`). Boxed: a `PendingCall` is some 250 bytes, and a
/// B-tree node shifts its values on every insert and remove; completing
/// the oldest calls, as most completions do, moved kilobytes per call
/// (measured: the largest single cost of a batch of completions).
type PendingCalls = BTreeMap<Ticket, Box<PendingCall>>;

pub struct Calls {
    pending: Mutex<PendingCalls>,
    /// Refusal records waiting for completions the host owes (record order).
    held: Mutex<Vec<CallRecord>>,
    next_ticket: AtomicU64,
    max_pending: usize,
    /// Rounds announced by an answer and not yet sent.
    open_rounds: Mutex<OpenRounds>,
}

impl Calls {
    pub fn new(max_pending: usize) -> Self {
        Self {
            pending: Mutex::new(BTreeMap::new()),
            held: Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(1),
            max_pending,
            open_rounds: Mutex::new(OpenRounds::default()),
        }
    }

    /// The pending call `ticket` was answered "input required" with
    /// `request_state`: the call sent again with it is its next round. The
    /// first round's trace id is fixed now, so that its record and the
    /// later rounds' agree. False: no such pending call (nothing recorded).
    pub fn open_next_round(&self, ticket: Ticket, request_state: String) -> bool {
        let (link, owner) = {
            let mut pending = self.lock();
            let Some(call) = pending.get_mut(&ticket) else {
                return false;
            };
            let link = *call.link.get_or_insert_with(|| CallLink {
                parent_trace_id: new_trace_id(),
                round: 1,
            });
            (link, call.context.clone())
        };
        let next = CallLink {
            parent_trace_id: link.parent_trace_id,
            round: link.round.saturating_add(1),
        };
        self.open_rounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open(request_state, next, owner);
        true
    }

    /// The round a call of `caller` sent with `request_state` is, when an
    /// earlier round of the same caller announced it; left in place (see
    /// [`Calls::take_round`]).
    pub fn round_of(&self, request_state: &str, caller: &CallContext) -> Option<CallLink> {
        self.open_rounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(request_state, caller)
    }

    /// The call sent with `request_state` as the round `link` (from
    /// `round_of`) was allowed: it took the round's place, and the state
    /// names no round any more. A refused round is not taken, since it was
    /// never sent: sent again (say with other arguments), it is still that
    /// round.
    pub fn take_round(&self, request_state: &str, link: CallLink) {
        self.open_rounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(request_state, link);
    }

    /// Keeps a call until it completes; returns its ticket and the call
    /// evicted to make room, if any (the oldest, past `max_pending`).
    pub fn start(&self, call: PendingCall) -> (Ticket, Option<PendingCall>) {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert(ticket, Box::new(call));
        let evicted = if pending.len() > self.max_pending {
            pending.pop_first().map(|(_, c)| *c)
        } else {
            None
        };
        (ticket, evicted)
    }

    pub fn take(&self, ticket: Ticket) -> Option<PendingCall> {
        self.lock().remove(&ticket).map(|c| *c)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, PendingCalls> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The records of the calls that completed, in the order given, taking
    /// the lock once. Unknown tickets (0, or already completed) are
    /// ignored: completing twice must not record twice.
    ///
    /// The records are made as the iterator is read, after the lock is let
    /// go, each straight into its place (no list of records in between);
    /// the calls stay boxed until then.
    pub fn complete_many(
        &self,
        completions: impl IntoIterator<Item = (Ticket, Completion)>,
    ) -> impl Iterator<Item = CallRecord> {
        let completions = completions.into_iter();
        let mut done = Vec::with_capacity(completions.size_hint().0);
        {
            let mut pending = self.lock();
            for (ticket, completion) in completions {
                if ticket == 0 {
                    continue;
                }
                if let Some(call) = pending.remove(&ticket).filter(|c| c.record_completion) {
                    done.push((call, completion));
                }
            }
        }
        done.into_iter().map(|(c, e)| finish(*c, e))
    }

    /// Calls sent whose completion is still owed (their record waits for it).
    pub fn open(&self) -> usize {
        self.lock().values().filter(|c| c.record_completion).count()
    }

    /// Takes every call still open: their records, made now, say that the
    /// call was sent and its outcome is unknown (a shutdown stopped waiting).
    pub fn take_open(&self) -> Vec<CallRecord> {
        let open = std::mem::take(&mut *self.lock());
        open.into_values()
            .filter(|c| c.record_completion)
            .map(|c| {
                let mut record = finish(
                    *c,
                    Completion::threw(Some(messages::OPEN_AT_SHUTDOWN.into()), None),
                );
                record.error_type = Some(Cow::Borrowed(INCOMPLETE));
                record
            })
            .collect()
    }

    /// Holds a refusal's record until the host has reported what it owes.
    pub fn hold(&self, record: CallRecord) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    /// The held records, to go out after the completions just reported.
    pub fn take_held(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The record of a call that never completed.
pub fn incomplete(call: PendingCall) -> CallRecord {
    let mut record = finish(
        call,
        Completion::threw(Some(messages::NEVER_COMPLETED.into()), None),
    );
    record.error_type = Some(Cow::Borrowed(INCOMPLETE));
    record
}

pub fn finish(call: PendingCall, completion: Completion) -> CallRecord {
    let (status, error_message, error_type) = match completion.ending {
        Ending::Answered => (CallStatus::Success, None, None),
        Ending::AnsweredIsError => (
            CallStatus::Error,
            Some(messages::ANSWERED_IS_ERROR.to_string()),
            None,
        ),
        Ending::Threw {
            message,
            error_type,
        } => (
            CallStatus::Error,
            message.map(|m| bound_text(m, MAX_RECORD_TEXT)),
            error_type.map(Cow::Owned),
        ),
    };
    // The first round of a multi-round call has its trace id already: the
    // later rounds name it as their parent.
    let trace_id = match call.link {
        Some(link) if link.round == 1 => link.parent_trace_id,
        _ => new_trace_id(),
    };
    CallRecord {
        trace_id,
        link: call.link,
        done_by: 0,
        context: call.context,
        tool: call.tool,
        input: call.input.map(RecordText::from).or_else(|| {
            completion
                .input
                .map(|a| bound_record_text(a, MAX_RECORD_TEXT))
        }),
        output: completion
            .output
            .map(|o| bound_record_text(o, MAX_RECORD_TEXT)),
        started_at: call.started_at,
        duration_ms: completion
            .ended_at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(call.started)
            .as_secs_f64()
            * 1000.0,
        status,
        error_message,
        error_type,
        violations: vec![],
        warnings: call.warnings,
        decided_by: call.decided_by,
        approval: call.approval,
        output_scan: call.output_scan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_decodes_to_completions_in_order() {
        let numbers = [5.0, 1.0, 0.0, 6.0, 2.0, 1.0, 7.0, 3.0, 2.0, 8.0, 4.0, 4.0];
        let texts = r#"[[null,{"a":[1,"x"]},{"p":"/t"},null],["a",{"isError":true},null,null]]"#;
        let thrown = vec!["boom".into(), "TypeError".into()];
        let got = decode_batch(&numbers, texts.into(), thrown, 0.0).unwrap();
        let tickets: Vec<Ticket> = got.iter().map(|(t, _)| *t).collect();
        assert_eq!(tickets, [5, 6, 7, 8]);
        assert_eq!(got[0].1.ending, Ending::Answered);
        assert_eq!(got[0].1.input, None, "arguments null: none");
        assert_eq!(got[0].1.output.as_deref(), Some(r#""a""#));
        assert_eq!(got[1].1.ending, Ending::AnsweredIsError);
        assert_eq!(got[1].1.input.as_deref(), Some(r#"{"a":[1,"x"]}"#));
        assert_eq!(got[1].1.output.as_deref(), Some(r#"{"isError":true}"#));
        assert_eq!(
            got[2].1.ending,
            Ending::Threw {
                message: Some("boom".into()),
                error_type: Some("TypeError".into())
            }
        );
        assert_eq!(got[2].1.output, None);
        assert_eq!(got[2].1.input.as_deref(), Some(r#"{"p":"/t"}"#));
        // An answer of no JSON form has no output; an answer null has one.
        assert_eq!(got[3].1.ending, Ending::Answered);
        assert_eq!(got[3].1.output, None);
    }

    /// Each value's text is the host's, byte for byte: escapes, numbers and
    /// key order as written, whatever the neighbours.
    #[test]
    fn record_texts_are_the_hosts_json_unchanged() {
        let input = r#"{"z":1e+300,"a":"\ud800\n\u2028é","n":[-0,1.50]}"#;
        let texts = format!("[[{input}],[null]]");
        let got = decode_batch(&[1.0, 0.0, 0.0], texts, vec![], 0.0).unwrap();
        assert_eq!(got[0].1.input.as_deref(), Some(input));
        assert_eq!(got[0].1.output.as_deref(), Some("null"), "an answer null");
    }

    fn pending(tool: &str) -> PendingCall {
        PendingCall {
            context: CallContext {
                agent_id: "ops-agent".into(),
                session_id: None,
                user_id: None,
                origin: None,
            },
            tool: tool.into(),
            input: None,
            args_full: None,
            record_completion: true,
            started_at: SystemTime::now(),
            started: Instant::now(),
            warnings: vec![],
            decided_by: DecidedBy::Local,
            monitor_only: false,
            link: None,
            unsent_round: None,
            approval: None,
            server_after_approval: false,
            output_scan: None,
        }
    }

    /// A call sent with `state`, allowed: linked as `Engine` does it.
    fn sent_round(calls: &Calls, state: &str) -> Ticket {
        let call = pending("deploy");
        let link = calls.round_of(state, &call.context);
        let (ticket, _) = calls.start(call);
        if let Some(link) = link {
            calls.take_round(state, link);
            calls.lock().get_mut(&ticket).unwrap().link = Some(link);
        }
        ticket
    }

    #[test]
    fn the_rounds_of_a_call_share_the_first_rounds_trace_id() {
        let calls = Calls::new(16);
        let (first, _) = calls.start(pending("deploy"));
        assert!(calls.open_next_round(first, "s1".into()));
        let second = sent_round(&calls, "s1");
        assert!(calls.open_next_round(second, "s2".into()));
        // Looked at (a refused round), a round stays open.
        let caller = pending("deploy").context;
        assert!(calls.round_of("s2", &caller).is_some());
        let third = sent_round(&calls, "s2");
        // A state announced once links one round only.
        assert_eq!(calls.round_of("s2", &caller), None);
        let again = sent_round(&calls, "s2");
        let (plain, _) = calls.start(pending("echo"));
        let records: Vec<_> = calls
            .complete_many(
                [first, second, third, again, plain].map(|t| (t, Completion::answered(None))),
            )
            .collect();
        let links: Vec<_> = records.iter().map(|r| r.link).collect();
        let parent = records[0].trace_id;
        for (i, link) in links[..3].iter().enumerate() {
            assert_eq!(
                *link,
                Some(CallLink {
                    parent_trace_id: parent,
                    round: i as u32 + 1
                })
            );
        }
        assert_ne!(records[1].trace_id, parent);
        assert_eq!(links[3], None);
        assert_eq!(links[4], None);
    }

    #[test]
    fn a_round_of_no_pending_call_links_nothing() {
        let calls = Calls::new(16);
        assert!(!calls.open_next_round(0, "s".into()));
        assert_eq!(calls.round_of("s", &pending("deploy").context), None);
    }

    #[test]
    fn a_batch_of_the_wrong_shape_is_an_invalid_argument() {
        let bad = [
            decode_batch(&[1.0, 2.0], "[[],[]]".into(), vec![], 0.0),
            decode_batch(&[1.0, 2.0, 0.0], "[[null],[]]".into(), vec![], 0.0),
            decode_batch(&[1.0, 2.0, 0.0], "[[null],[null]".into(), vec![], 0.0),
            decode_batch(&[1.0, 2.0, 0.0], "[null,null]".into(), vec![], 0.0),
            decode_batch(&[1.0, 2.0, 2.0], "[[null],[null]]".into(), vec![], 0.0),
            decode_batch(
                &[1.0, 2.0, 0.0],
                "[[null],[null]]".into(),
                vec!["x".into()],
                0.0,
            ),
        ];
        for e in bad {
            assert_eq!(
                e.unwrap_err().kind,
                crate::error::ErrorKind::InvalidArgument
            );
        }
    }
}
