//! Newline-delimited JSON-RPC, as MCP's stdio transport frames it: one
//! message per line. Lines are read with a size limit, and each message is
//! classified without building a tree of it, so that everything but the
//! two methods the relay governs passes on as the very bytes that came in.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The largest message the relay takes, either way (64 MiB): a tool
/// result may carry a large file or an image; past this a line is
/// refused, never cut and passed on.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// One line read.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Line(Vec<u8>),
    /// A line longer than the limit, dropped: its length.
    TooLong(usize),
}

/// Reads one line (without its `\n` or `\r\n`); `None` at the end of the
/// stream. Blank lines are skipped. A line over `limit` is read to its end
/// and dropped, keeping nothing of it in memory.
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> std::io::Result<Option<Frame>> {
    loop {
        let mut line = Vec::new();
        let mut length = 0usize;
        let mut ended = false;
        loop {
            let buf = reader.fill_buf().await?;
            if buf.is_empty() {
                ended = true;
                break;
            }
            let (take, used, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, i + 1, true),
                None => (buf.len(), buf.len(), false),
            };
            length += take;
            if length <= limit {
                line.extend_from_slice(&buf[..take]);
            } else {
                line = Vec::new();
            }
            reader.consume(used);
            if done {
                break;
            }
        }
        if length > limit {
            return Ok(Some(Frame::TooLong(length)));
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            if ended {
                return Ok(None);
            }
            continue;
        }
        return Ok(Some(Frame::Line(line)));
    }
}

/// A JSON-RPC id, normalised (its JSON text as serde writes it), so that
/// an answer's id matches its request's however either side spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdKey(pub String);

impl IdKey {
    pub fn of(raw: &RawValue) -> Option<IdKey> {
        match serde_json::from_str::<Value>(raw.get()).ok()? {
            v @ (Value::String(_) | Value::Number(_)) => Some(IdKey(v.to_string())),
            _ => None,
        }
    }

    /// The id as JSON, to answer with.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// What a line says it is.
#[derive(Debug)]
pub enum Message<'a> {
    Request {
        id: IdKey,
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Response {
        id: IdKey,
    },
}

#[derive(Deserialize)]
struct Probe<'a> {
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// Classifies one line. An error says why it is no JSON-RPC 2.0 message
/// the relay may pass on: not JSON, a batch (an array, which could carry a
/// `tools/call` past the gate), a duplicate key (two readers could read two
/// different messages), an id that is not a string or a number.
pub fn classify(line: &[u8]) -> Result<Message<'_>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    if text.trim_start().starts_with('[') {
        return Err("a JSON-RPC batch (MCP sends one message per line)".into());
    }
    let probe: Probe =
        serde_json::from_str(text).map_err(|e| format!("not a JSON-RPC message: {e}"))?;
    if probe.jsonrpc.as_deref() != Some("2.0") {
        return Err("no \"jsonrpc\": \"2.0\"".into());
    }
    let id = match probe.id {
        None => None,
        Some(raw) => Some(IdKey::of(raw).ok_or("an id that is neither a string nor a number")?),
    };
    match (probe.method, id) {
        (Some(method), Some(id)) => Ok(Message::Request {
            id,
            method,
            params: probe.params,
        }),
        (Some(method), None) => Ok(Message::Notification {
            method,
            params: probe.params,
        }),
        (None, Some(id)) if probe.result.is_some() != probe.error.is_some() => {
            Ok(Message::Response { id })
        }
        _ => Err("neither a request, a notification nor a response".into()),
    }
}

/// A line to write: the message's JSON text and its `\n`.
pub fn line_of(message: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(message).expect("a JSON value always serialises");
    out.push(b'\n');
    out
}

/// A JSON-RPC error answer.
pub fn error_answer(id: Value, code: i64, message: &str, data: Option<Value>) -> Vec<u8> {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    line_of(&serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error }))
}

/// A short view of a line for a diagnostic (a hostile line may be huge or
/// hold control characters).
pub fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]);
    let shown: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if line.len() > 120 {
        format!("{shown}… ({} bytes)", line.len())
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_over_the_limit_are_dropped_whole() {
        let mut input: &[u8] = b"{\"a\":1}\r\n\n0123456789abc\n{\"b\":2}";
        let mut frames = Vec::new();
        while let Some(f) = read_frame(&mut input, 10).await.unwrap() {
            frames.push(f);
        }
        assert_eq!(
            frames,
            [
                Frame::Line(b"{\"a\":1}".to_vec()),
                Frame::TooLong(13),
                Frame::Line(b"{\"b\":2}".to_vec())
            ]
        );
    }

    #[test]
    fn classifies_and_refuses_what_could_be_read_two_ways() {
        let m =
            classify(br#"{"jsonrpc":"2.0","id":1.0e0,"method":"tools/call","params":{}}"#).unwrap();
        assert!(matches!(m, Message::Request { ref method, .. } if method == "tools/call"));
        // An escaped spelling is the same method: still gated.
        let m = classify(br#"{"jsonrpc":"2.0","id":2,"method":"tools\/call"}"#).unwrap();
        assert!(matches!(m, Message::Request { ref method, .. } if method == "tools/call"));
        // A null id is no id: a tools/call with one is a notification (dropped).
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":"x","result":{}}"#),
            Ok(Message::Response { .. })
        ));
        for bad in [
            &br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call"}]"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#,
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            br#"{"id":1,"method":"ping"}"#,
            b"not json",
        ] {
            assert!(classify(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
