//! One governed call, as the audit trail keeps it.
//!
//! A [`CallRecord`] is cheap to build on the calling thread (no JSON, no id
//! generation); it becomes the API's TracePayload JSON later, off the hot
//! path, in [`CallRecord::write_json`].

pub use super::text::RecordText;
use crate::clock::Iso8601;
use crate::decision::Violation;
use crate::engine::rounds::CallLink;
use crate::sync::approval::ApprovalFailure;
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

/// Largest `input` / `output` text a record carries, in bytes. Longer text is
/// cut at a character boundary and marked, so that a 50 MB tool result
/// cannot bloat the buffer or the audit log.
pub const MAX_RECORD_TEXT: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Success,
    Error,
    PolicyBlocked,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Success => "success",
            CallStatus::Error => "error",
            CallStatus::PolicyBlocked => "policy_blocked",
        }
    }
}

/// Who made the decision a record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    /// The local engine alone.
    Local,
    /// The control plane decided too.
    Remote,
    /// No decision could be had and `fail_open` let the call through.
    Bypassed,
}

impl DecidedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Local => "local",
            DecidedBy::Remote => "remote",
            DecidedBy::Bypassed => "bypassed",
        }
    }
}

/// Why governance refused a call, as its record's `errorType` names it.
/// The names are the record format's (the official SDK's error classes);
/// they are defined here once, whatever host the core runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PolicyBlocked,
    AgentPaused,
    EnforcementUnavailable,
    /// An approval that did not let the call go ahead.
    Approval(ApprovalFailure),
}

impl Refusal {
    pub fn record_text(self) -> &'static str {
        match self {
            Refusal::PolicyBlocked => "PolicyBlockedError",
            Refusal::AgentPaused => "AgentPausedError",
            Refusal::EnforcementUnavailable => "EnforcementUnavailableError",
            Refusal::Approval(failure) => failure.error_type(),
        }
    }
}

/// The `errorType` of a call that was decided but never completed.
pub const INCOMPLETE: &str = "Incomplete";

/// Who a call was made for; shared by every record of the same wrapped client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallContext {
    pub agent_id: Arc<str>,
    pub session_id: Option<Arc<str>>,
    pub user_id: Option<Arc<str>>,
    /// Where the calls come from when a proxy makes them for a host
    /// (`execlave-mcp`): `metadata.client` and `metadata.upstream`.
    pub origin: Option<Arc<Origin>>,
}

/// The host and the server a proxy sits between (issue 21).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Origin {
    /// The host's `clientInfo` (name, version) from `initialize`.
    pub client: ClientInfo,
    /// The server's command line, as the proxy runs it.
    pub upstream: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ClientInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Fixed when the record is made, so that a batch sent again after a
    /// lost answer carries the same ids and the server can tell.
    pub trace_id: u128,
    /// For a round of a multi-round call: the first round's trace id and
    /// this round's number (`parentTraceId`, `metadata.round`).
    pub link: Option<CallLink>,
    /// The sinks that are done with this record, one bit each (see
    /// [`crate::records::pipeline`]): a record kept for a sink that must
    /// retry is not handed again to those that have it.
    pub done_by: u32,
    pub context: CallContext,
    pub tool: String,
    /// JSON text of the arguments, already bounded by [`bound_text`].
    pub input: Option<RecordText>,
    /// JSON text of the result, already bounded by [`bound_text`].
    pub output: Option<RecordText>,
    pub started_at: SystemTime,
    pub duration_ms: f64,
    pub status: CallStatus,
    pub error_message: Option<String>,
    /// A [`Refusal`]'s text, [`INCOMPLETE`], or the name the host gave the
    /// error a call threw.
    pub error_type: Option<Cow<'static, str>>,
    pub violations: Vec<Violation>,
    pub warnings: Vec<Violation>,
    pub decided_by: DecidedBy,
    /// The approval this call waited for, if it needed one
    /// (`metadata.approval`).
    pub approval: Option<Box<ApprovalNote>>,
    /// What the scan of its result made of it (`metadata.outputScan`):
    /// `passed`, `blocked`, `bypassed` (fail_open, unscanned), `refused`.
    pub output_scan: Option<&'static str>,
}

/// What a record says of a call's approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalNote {
    /// The approval request's id, or `local` for the local approver.
    pub id: String,
    /// `granted`, or why not: `denied`, `timed_out`, `certificate_mismatch`,
    /// `unverifiable`, `cancelled`.
    pub outcome: &'static str,
    pub waited_ms: f64,
}

impl CallRecord {
    /// The record as the API's TracePayload (`POST /api/v1/traces/ingest`):
    /// a view that borrows the record, serialised straight to JSON text
    /// without building a `serde_json::Value` tree first.
    pub fn trace_payload<'a>(&'a self, environment: &'a str) -> TracePayload<'a> {
        let decision = if !self.violations.is_empty() {
            "blocked"
        } else if !self.warnings.is_empty() {
            "warned"
        } else {
            "allowed"
        };
        TracePayload {
            trace_id: trace_uuid(self.trace_id),
            parent_trace_id: self.link.map(|l| trace_uuid(l.parent_trace_id)),
            agent_id: &self.context.agent_id,
            session_id: self.context.session_id.as_deref(),
            user_id: self.context.user_id.as_deref(),
            timestamp: Iso8601(self.started_at),
            // Whole milliseconds would turn a 40 µs call into 0; keep 3 decimals.
            duration_ms: (self.duration_ms * 1000.0).round() / 1000.0,
            status: self.status.as_str(),
            input: self.input.as_deref(),
            output: self.output.as_deref(),
            error_message: self.error_message.as_deref(),
            error_type: self.error_type.as_deref(),
            environment,
            span_type: "tool",
            tags: ["mcp"],
            metadata: TraceMetadata {
                tool_name: &self.tool,
                decision,
                decided_by: self.decided_by.as_str(),
                violations: &self.violations,
                warnings: &self.warnings,
                round: self.link.map(|l| l.round),
                approval: self.approval.as_deref(),
                output_scan: self.output_scan,
                origin: self.context.origin.as_deref(),
            },
        }
    }

    /// Bounds what a model chose and a record repeats: the tool name (in
    /// the record and in each violation) and the violations' messages,
    /// which quote it, each to [`MAX_RECORD_TEXT`] as input and output
    /// are. Otherwise a 1 MiB tool name makes a 4 MiB refusal record.
    /// Costs one length check per record in the usual case.
    pub fn bound_model_text(&mut self) {
        if self.tool.len() > MAX_RECORD_TEXT {
            self.tool = cut_text(&self.tool, MAX_RECORD_TEXT);
        }
        if let Some(m) = self
            .error_message
            .as_mut()
            .filter(|m| m.len() > MAX_RECORD_TEXT)
        {
            *m = cut_text(m, MAX_RECORD_TEXT);
        }
        for v in self.violations.iter_mut().chain(self.warnings.iter_mut()) {
            if let Some(tool) = v.tool.as_mut().filter(|t| t.len() > MAX_RECORD_TEXT) {
                *tool = cut_text(tool, MAX_RECORD_TEXT);
            }
            if v.message.len() > MAX_RECORD_TEXT {
                v.message = cut_text(&v.message, MAX_RECORD_TEXT);
            }
        }
    }

    /// Appends the TracePayload's JSON text to `out`.
    pub fn write_json(&self, environment: &str, out: &mut Vec<u8>) {
        serde_json::to_writer(out, &self.trace_payload(environment))
            .expect("a TracePayload has string keys and finite numbers; a Vec never fails");
    }
}

/// A trace id as the API's text (a UUID).
fn trace_uuid(id: u128) -> uuid::fmt::Hyphenated {
    uuid::Builder::from_random_bytes(id.to_le_bytes())
        .into_uuid()
        .hyphenated()
}

/// One record in the API's TracePayload shape (field names are the wire
/// format of `POST /api/v1/traces/ingest`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracePayload<'a> {
    trace_id: uuid::fmt::Hyphenated,
    agent_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    timestamp: Iso8601,
    duration_ms: f64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'a str>,
    environment: &'a str,
    span_type: &'static str,
    tags: [&'static str; 1],
    metadata: TraceMetadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_trace_id: Option<uuid::fmt::Hyphenated>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TraceMetadata<'a> {
    tool_name: &'a str,
    decision: &'static str,
    decided_by: &'static str,
    #[serde(skip_serializing_if = "<[Violation]>::is_empty")]
    violations: &'a [Violation],
    #[serde(skip_serializing_if = "<[Violation]>::is_empty")]
    warnings: &'a [Violation],
    /// The round of a multi-round call (1 for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    round: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<&'a ApprovalNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_scan: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    origin: Option<&'a Origin>,
}

/// A random 128-bit trace id. Trace ids need to be unique, not secret, so a
/// fast non-cryptographic generator keeps the system call off the hot path.
pub fn new_trace_id() -> u128 {
    fastrand::u128(..)
}

/// Cuts `text` to at most `max` bytes at a character boundary, saying how
/// much was left out. The result is still valid UTF-8 (a JSON string), but a
/// cut JSON document is no longer parseable JSON, by design: it is a view.
pub fn bound_text(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    cut_text(&text, max)
}

/// Record text bounded as [`bound_text`] bounds a string; within the bound
/// it is kept as it is (a shared text stays shared), past it only what is
/// kept is copied.
pub fn bound_record_text(text: RecordText, max: usize) -> RecordText {
    if text.len() <= max {
        return text;
    }
    cut_text(&text, max).into()
}

/// The first `max` bytes of `text` (at most; at a character boundary) and
/// the mark saying how long it was: copies only what is kept.
fn cut_text(text: &str, max: usize) -> String {
    let total = text.len();
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[truncated, {total} bytes in all]", &text[..cut])
}

/// A plain successful record of `tool` by `ops-agent`, for tests to adjust.
#[cfg(test)]
pub(crate) fn sample_record(tool: &str) -> CallRecord {
    CallRecord {
        trace_id: new_trace_id(),
        link: None,
        done_by: 0,
        context: CallContext {
            agent_id: "ops-agent".into(),
            session_id: None,
            user_id: None,
            origin: None,
        },
        tool: tool.into(),
        input: None,
        output: None,
        started_at: SystemTime::UNIX_EPOCH,
        duration_ms: 0.0,
        status: CallStatus::Success,
        error_message: None,
        error_type: None,
        violations: vec![],
        warnings: vec![],
        decided_by: DecidedBy::Local,
        approval: None,
        output_scan: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(r: &CallRecord, environment: &str) -> serde_json::Value {
        let mut text = Vec::new();
        r.write_json(environment, &mut text);
        serde_json::from_slice(&text).unwrap()
    }

    fn record(status: CallStatus) -> CallRecord {
        let mut r = sample_record("read_file");
        r.context.session_id = Some("s-1".into());
        r.input = Some(r#"{"path":"/tmp/x"}"#.into());
        r.duration_ms = 0.0421;
        r.status = status;
        r
    }

    #[test]
    fn a_proxied_call_names_its_host_and_server() {
        let mut r = record(CallStatus::Success);
        assert!(payload(&r, "production")["metadata"]
            .get("client")
            .is_none());
        r.context.origin = Some(Arc::new(Origin {
            client: ClientInfo {
                name: Some("claude-ai".into()),
                version: None,
            },
            upstream: "npx server-filesystem /tmp".into(),
        }));
        let t = payload(&r, "production");
        assert_eq!(
            t["metadata"]["client"],
            serde_json::json!({"name": "claude-ai"})
        );
        assert_eq!(t["metadata"]["upstream"], "npx server-filesystem /tmp");
        assert_eq!(t["metadata"]["toolName"], "read_file");
    }

    #[test]
    fn trace_payload_has_the_api_fields() {
        let t = payload(&record(CallStatus::Success), "production");
        assert_eq!(t["agentId"], "ops-agent");
        assert_eq!(t["sessionId"], "s-1");
        assert!(t.get("userId").is_none());
        assert_eq!(t["status"], "success");
        assert_eq!(t["spanType"], "tool");
        assert_eq!(t["environment"], "production");
        assert_eq!(t["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(t["durationMs"], 0.042);
        assert_eq!(t["input"], r#"{"path":"/tmp/x"}"#);
        assert_eq!(t["metadata"]["toolName"], "read_file");
        assert_eq!(t["metadata"]["decision"], "allowed");
        let id = t["traceId"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "a version-4 UUID: {id}");
        // The id is fixed with the record: serialising again gives the same.
        let r = record(CallStatus::Success);
        assert_eq!(payload(&r, "x")["traceId"], payload(&r, "x")["traceId"]);
    }

    #[test]
    fn a_round_names_its_first_round_as_parent() {
        let plain = payload(&record(CallStatus::Success), "x");
        assert!(plain.get("parentTraceId").is_none());
        assert!(plain["metadata"].get("round").is_none());
        let first = record(CallStatus::Success);
        let mut second = record(CallStatus::Success);
        second.link = Some(CallLink {
            parent_trace_id: first.trace_id,
            round: 2,
        });
        let t = payload(&second, "x");
        assert_eq!(t["parentTraceId"], payload(&first, "x")["traceId"]);
        assert_eq!(t["metadata"]["round"], 2);
    }

    #[test]
    fn blocked_record_lists_violations() {
        let mut r = record(CallStatus::PolicyBlocked);
        r.violations.push(Violation {
            policy_name: "P".into(),
            rule: Some("deny".into()),
            ..Default::default()
        });
        let t = payload(&r, "staging");
        assert_eq!(t["status"], "policy_blocked");
        assert_eq!(t["metadata"]["decision"], "blocked");
        assert_eq!(t["metadata"]["violations"][0]["rule"], "deny");
    }

    #[test]
    fn bound_text_cuts_at_char_boundary() {
        assert_eq!(bound_text("short".into(), 10), "short");
        let s = "é".repeat(10); // 20 bytes
        let cut = bound_text(s, 5);
        assert!(cut.starts_with("éé…"), "{cut}");
        assert!(cut.contains("20 bytes"));
    }

    #[test]
    fn a_shared_text_is_bounded_as_a_string_is() {
        let batch: Arc<str> = Arc::from(format!("[\"short\",\"{}\"]", "é".repeat(10)));
        let short = RecordText::shared(&batch, 1..8).unwrap();
        assert_eq!(&*bound_record_text(short, 10), "\"short\"");
        let long = RecordText::shared(&batch, 9..31).unwrap();
        let cut = bound_record_text(long, 10);
        assert_eq!(&*cut, bound_text(batch[9..31].to_owned(), 10));
        assert!(cut.contains("22 bytes in all"), "{cut:?}");
    }
}
