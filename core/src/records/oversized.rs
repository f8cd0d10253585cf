//! Records too big for the control plane. `POST /traces/ingest` answers
//! 413 to a body over its limit; dropping that batch would drop every
//! ordinary record in it with the one a model made huge (a 1 MiB tool
//! name), erasing its own audit trail. So the ingest splits the batch and
//! sends what fits; a single record that still does not fit is replaced by
//! a stand-in ([`stand_in`]) that keeps its ids and outcome, cuts every
//! long string, and says that it was truncated and how big it was.

use serde_json::{Map, Value};

/// Longest string a stand-in keeps, in bytes.
const STAND_IN_TEXT: usize = 512;

/// The stand-in for the record whose TracePayload JSON is `json`: the same
/// record with `input` and `output` left out, every string cut to
/// [`STAND_IN_TEXT`] bytes, and `metadata.truncated` giving the original
/// size. `None` when `json` is not a JSON object (never, for our own).
pub fn stand_in(json: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(json).ok()?;
    let record = value.as_object_mut()?;
    record.remove("input");
    record.remove("output");
    cut_strings(&mut value);
    let metadata = value
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = metadata {
        m.insert(
            "truncated".into(),
            serde_json::json!({
                "reason": "record too large for the control plane (HTTP 413)",
                "originalBytes": json.len(),
            }),
        );
    }
    serde_json::to_vec(&value).ok()
}

fn cut_strings(value: &mut Value) {
    match value {
        Value::String(s) if s.len() > STAND_IN_TEXT => {
            let mut cut = STAND_IN_TEXT;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            let total = s.len();
            *s = format!("{}…[truncated, {total} bytes in all]", &s[..cut]);
        }
        Value::Array(items) => items.iter_mut().for_each(cut_strings),
        Value::Object(map) => map.values_mut().for_each(cut_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::sample_record;

    #[test]
    fn a_stand_in_keeps_ids_and_outcome_and_says_it_was_cut() {
        let mut r = sample_record(&"t".repeat(1 << 20));
        r.input = Some("x".repeat(8000).into());
        let mut json = Vec::new();
        r.write_json("production", &mut json);
        let small = stand_in(&json).unwrap();
        assert!(small.len() < 4096, "{}", small.len());
        let v: Value = serde_json::from_slice(&small).unwrap();
        let full: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["traceId"], full["traceId"]);
        assert_eq!(v["status"], full["status"]);
        assert!(v.get("input").is_none());
        assert_eq!(v["metadata"]["truncated"]["originalBytes"], json.len());
        let tool = v["metadata"]["toolName"].as_str().unwrap();
        assert!(
            tool.starts_with("ttt") && tool.ends_with("bytes in all]"),
            "{tool}"
        );
    }
}
