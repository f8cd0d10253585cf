//! The local audit trail: one TracePayload per line (JSON Lines), appended.

use serde_json::value::RawValue;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating, appending) at once, so that a bad path is an error
    /// when the client is made rather than a silent loss later.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open audit log {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// JSON Lines text of the given traces, one per line, ready for
    /// [`AuditLog::append`]; built on the caller's side so that only bytes
    /// travel to the thread that writes.
    pub fn lines<'a>(traces: impl IntoIterator<Item = &'a RawValue>) -> Vec<u8> {
        let mut text = Vec::new();
        for t in traces {
            text.extend_from_slice(t.get().as_bytes());
            text.push(b'\n');
        }
        text
    }

    /// Appends with one write, so that lines from one batch are never
    /// interleaved with another writer's.
    pub fn append(&self, text: &[u8]) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(text)?;
        f.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn raw(v: Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    #[test]
    fn appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let first = [raw(json!({"a": 1})), raw(json!({"b": "x\ny"}))];
        log.append(&AuditLog::lines(first.iter().map(|t| &**t)))
            .unwrap();
        log.append(&AuditLog::lines([&*raw(json!({"c": 3}))]))
            .unwrap();
        log.append(&AuditLog::lines([])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            [json!({"a": 1}), json!({"b": "x\ny"}), json!({"c": 3})]
        );
    }

    #[test]
    fn bad_path_is_an_error_naming_it() {
        let err = AuditLog::open(Path::new("/nonexistent-dir/x/audit.jsonl"))
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent-dir/x/audit.jsonl"), "{err}");
    }
}
