//! A batch of records serialised once, as TracePayload JSON text: the audit
//! log takes it as JSON Lines, the ingest body as the same text joined into
//! a JSON array. One buffer for the whole batch, no per-record allocation
//! and no second serialisation, because this runs for every governed call
//! (on the delivery thread, but on a 2-core machine that thread competes
//! with the agent's).

use super::record::CallRecord;
use std::sync::Arc;

pub struct TraceBatch {
    /// The records' JSON, each followed by a newline: JSON Lines of the
    /// whole batch, which a sink may keep (see [`TraceBatch::lines`]).
    text: Arc<Vec<u8>>,
    /// Where each record's line ends (after its newline).
    ends: Vec<usize>,
}

impl TraceBatch {
    pub fn new(records: &[CallRecord], environment: &str) -> Self {
        let mut text = Vec::with_capacity(records.len() * 640);
        let mut ends = Vec::with_capacity(records.len());
        for r in records {
            r.write_json(environment, &mut text);
            text.push(b'\n');
            ends.push(text.len());
        }
        Self {
            text: Arc::new(text),
            ends,
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Record `i`'s JSON, without its newline.
    pub fn json(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i] - 1]
    }

    /// JSON Lines of the records `keep` selects (by index). All of them,
    /// as usual, are the batch's own text, shared, not copied.
    pub fn lines(&self, keep: impl Fn(usize) -> bool) -> Arc<Vec<u8>> {
        if (0..self.len()).all(&keep) {
            return self.text.clone();
        }
        let mut out = Vec::with_capacity(self.text.len());
        for i in (0..self.len()).filter(|&i| keep(i)) {
            out.extend_from_slice(self.json(i));
            out.push(b'\n');
        }
        Arc::new(out)
    }

    /// The body of `POST /api/v1/traces/ingest` holding the records `keep`
    /// selects (by index): `{"traces":[…]}`.
    pub fn ingest_body(&self, keep: impl Fn(usize) -> bool) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.text.len() + 16);
        body.extend_from_slice(b"{\"traces\":[");
        for (n, i) in (0..self.len()).filter(|&i| keep(i)).enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(self.json(i));
        }
        body.extend_from_slice(b"]}");
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::sample_record;
    use serde_json::Value;

    fn record(tool: &str) -> CallRecord {
        let mut r = sample_record(tool);
        r.input = Some("{\"text\":\"line\\nbreak\"}".into());
        r
    }

    fn tools(values: &[Value]) -> Vec<&str> {
        values
            .iter()
            .map(|v| v["metadata"]["toolName"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn lines_and_ingest_body_hold_the_same_records() {
        let batch = TraceBatch::new(&[record("a"), record("b"), record("c")], "staging");
        assert_eq!(batch.len(), 3);
        let text = String::from_utf8(batch.lines(|_| true).to_vec()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(tools(&lines), ["a", "b", "c"]);
        assert_eq!(lines[0]["environment"], "staging");
        assert_eq!(lines[0]["input"], "{\"text\":\"line\\nbreak\"}");

        let some = String::from_utf8(batch.lines(|i| i != 1).to_vec()).unwrap();
        let some: Vec<Value> = some
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(tools(&some), ["a", "c"]);

        let body: Value = serde_json::from_slice(&batch.ingest_body(|_| true)).unwrap();
        let traces = body["traces"].as_array().unwrap();
        assert_eq!(traces, &lines);
    }

    #[test]
    fn an_empty_batch_is_an_empty_array() {
        let batch = TraceBatch::new(&[], "production");
        assert!(batch.is_empty());
        assert!(batch.lines(|_| true).is_empty());
        assert_eq!(batch.ingest_body(|_| true), b"{\"traces\":[]}");
    }
}
