//! One governed call, as the audit trail keeps it.
//!
//! A [`CallRecord`] is cheap to build on the calling thread (no JSON, no id
//! generation); it becomes the API's TracePayload JSON later, off the hot
//! path, in [`CallRecord::to_trace_payload`].

use crate::clock::iso8601;
use crate::decision::Violation;
use serde_json::{json, Map, Value};
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
    Timeout,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Success => "success",
            CallStatus::Error => "error",
            CallStatus::PolicyBlocked => "policy_blocked",
            CallStatus::Timeout => "timeout",
        }
    }
}

/// Who a call was made for; shared by every record of the same wrapped client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    pub agent_id: Arc<str>,
    pub session_id: Option<Arc<str>>,
    pub user_id: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Fixed when the record is made, so that a batch sent again after a
    /// lost answer carries the same ids and the server can tell.
    pub trace_id: u128,
    /// Already appended to the audit log (it is not appended again when the
    /// control plane needs the record retried).
    pub audit_logged: bool,
    pub context: CallContext,
    pub tool: String,
    /// JSON text of the arguments, already bounded by [`bound_text`].
    pub input: Option<String>,
    /// JSON text of the result, already bounded by [`bound_text`].
    pub output: Option<String>,
    pub started_at: SystemTime,
    pub duration_ms: f64,
    pub status: CallStatus,
    pub error_message: Option<String>,
    pub error_type: Option<String>,
    pub violations: Vec<Violation>,
    pub warnings: Vec<Violation>,
    /// `local`, `remote` (the control plane decided too) or `bypassed`
    /// (no decision could be had and `fail_open` let the call through).
    pub decided_by: &'static str,
}

impl CallRecord {
    /// The record as the API's TracePayload (`POST /api/v1/traces/ingest`).
    pub fn to_trace_payload(&self, environment: &str) -> Value {
        let mut metadata = Map::new();
        metadata.insert("toolName".into(), Value::String(self.tool.clone()));
        let decision = if !self.violations.is_empty() {
            "blocked"
        } else if !self.warnings.is_empty() {
            "warned"
        } else {
            "allowed"
        };
        metadata.insert("decision".into(), Value::String(decision.into()));
        metadata.insert("decidedBy".into(), Value::String(self.decided_by.into()));
        if !self.violations.is_empty() {
            metadata.insert("violations".into(), json!(self.violations));
        }
        if !self.warnings.is_empty() {
            metadata.insert("warnings".into(), json!(self.warnings));
        }

        let mut trace = Map::new();
        let id = uuid::Builder::from_random_bytes(self.trace_id.to_le_bytes()).into_uuid();
        trace.insert("traceId".into(), json!(id.to_string()));
        trace.insert("agentId".into(), json!(&*self.context.agent_id));
        if let Some(s) = &self.context.session_id {
            trace.insert("sessionId".into(), json!(&**s));
        }
        if let Some(u) = &self.context.user_id {
            trace.insert("userId".into(), json!(&**u));
        }
        trace.insert("timestamp".into(), json!(iso8601(self.started_at)));
        // Whole milliseconds would turn a 40 µs call into 0; keep 3 decimals.
        let ms = (self.duration_ms * 1000.0).round() / 1000.0;
        trace.insert("durationMs".into(), json!(ms));
        trace.insert("status".into(), json!(self.status.as_str()));
        if let Some(i) = &self.input {
            trace.insert("input".into(), json!(i));
        }
        if let Some(o) = &self.output {
            trace.insert("output".into(), json!(o));
        }
        if let Some(e) = &self.error_message {
            trace.insert("errorMessage".into(), json!(e));
        }
        if let Some(e) = &self.error_type {
            trace.insert("errorType".into(), json!(e));
        }
        trace.insert("environment".into(), json!(environment));
        trace.insert("spanType".into(), json!("tool"));
        trace.insert("tags".into(), json!(["mcp"]));
        trace.insert("metadata".into(), Value::Object(metadata));
        Value::Object(trace)
    }
}

/// A random 128-bit trace id. Trace ids need to be unique, not secret, so a
/// fast non-cryptographic generator keeps the system call off the hot path.
pub fn new_trace_id() -> u128 {
    fastrand::u128(..)
}

/// Cuts `text` to at most `max` bytes at a character boundary, saying how
/// much was left out. The result is still valid UTF-8 (a JSON string), but a
/// cut JSON document is no longer parseable JSON, by design: it is a view.
pub fn bound_text(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("…[truncated, {total} bytes in all]"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: CallStatus) -> CallRecord {
        CallRecord {
            trace_id: new_trace_id(),
            audit_logged: false,
            context: CallContext {
                agent_id: "ops-agent".into(),
                session_id: Some("s-1".into()),
                user_id: None,
            },
            tool: "read_file".into(),
            input: Some(r#"{"path":"/tmp/x"}"#.into()),
            output: None,
            started_at: SystemTime::UNIX_EPOCH,
            duration_ms: 0.0421,
            status,
            error_message: None,
            error_type: None,
            violations: vec![],
            warnings: vec![],
            decided_by: "local",
        }
    }

    #[test]
    fn trace_payload_has_the_api_fields() {
        let t = record(CallStatus::Success).to_trace_payload("production");
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
        assert_eq!(
            r.to_trace_payload("x")["traceId"],
            r.to_trace_payload("x")["traceId"]
        );
    }

    #[test]
    fn blocked_record_lists_violations() {
        let mut r = record(CallStatus::PolicyBlocked);
        r.violations.push(Violation {
            policy_name: "P".into(),
            rule: Some("deny".into()),
            ..Default::default()
        });
        let t = r.to_trace_payload("staging");
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
}
