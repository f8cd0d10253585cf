//! The local audit trail: one TracePayload per line (JSON Lines), appended.

use super::batch::TraceBatch;
use super::record::CallRecord;
use super::sink::{RecordSink, SinkFuture, SinkResult};
use crate::log::Logger;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct AuditLog {
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
            file: Mutex::new(file),
        })
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

/// The audit log as a sink: file writes happen on the blocking pool, and a
/// failed write is said once and not retried (the file is the user's; what
/// broke it will not mend itself between two batches).
pub struct AuditLogSink {
    log: Arc<AuditLog>,
    diagnostics: Arc<Logger>,
}

impl AuditLogSink {
    pub fn new(log: AuditLog, diagnostics: Arc<Logger>) -> Self {
        Self {
            log: Arc::new(log),
            diagnostics,
        }
    }
}

impl RecordSink for AuditLogSink {
    fn name(&self) -> &'static str {
        "audit log"
    }

    fn deliver<'a>(
        &'a self,
        _records: &'a [CallRecord],
        traces: &'a TraceBatch,
        pick: &'a (dyn Fn(usize) -> bool + Sync),
    ) -> SinkFuture<'a> {
        let lines = traces.lines(pick);
        Box::pin(async move {
            let log = self.log.clone();
            match tokio::task::spawn_blocking(move || log.append(&lines)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.diagnostics.once("audit-log-write", || {
                    format!("cannot write the audit log: {e}; its records are lost")
                }),
                Err(_) => {}
            }
            SinkResult::Done
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.append(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        log.append(b"").unwrap();
        log.append(b"{\"c\":3}\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    }

    #[test]
    fn bad_path_is_an_error_naming_it() {
        let err = AuditLog::open(Path::new("/nonexistent-dir/x/audit.jsonl"))
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent-dir/x/audit.jsonl"), "{err}");
    }
}
