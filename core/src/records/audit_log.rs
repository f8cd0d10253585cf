//! The local audit trail: one TracePayload per line (JSON Lines), appended.

use super::batch::TraceBatch;
use super::record::CallRecord;
use super::sink::{BatchLimit, RecordSink, SinkFuture, SinkResult};
use crate::log::Logger;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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

/// Records per write at most. Each write is a hand-over to the blocking
/// pool and a system call; in batches of 100 (the ingest's) that overhead
/// capped the log at 13 000-40 000 records/s on a loaded 2-core machine
/// (issue 11). A delivery takes what has piled up, so the batch grows with
/// the rate; this bound keeps one batch's JSON to a few MB.
pub const AUDIT_LOG_BATCH: usize = 4096;

/// The audit log as a sink: file writes happen on the blocking pool. A
/// failed write (a full disk) loses that batch: it is refused, so the
/// pipeline counts it as dropped, never as written, and not retried (the
/// file is the user's; what broke it will not mend itself between two
/// batches). Each failure episode is said once: the first failed write
/// after a good one (or the start).
pub struct AuditLogSink {
    log: Arc<AuditLog>,
    diagnostics: Arc<Logger>,
    failing: AtomicBool,
}

impl AuditLogSink {
    pub fn new(log: AuditLog, diagnostics: Arc<Logger>) -> Self {
        Self {
            log: Arc::new(log),
            diagnostics,
            failing: AtomicBool::new(false),
        }
    }

    fn failed(&self, e: &io::Error, records: usize) -> SinkResult {
        if !self.failing.swap(true, Relaxed) {
            self.diagnostics.warn(format!(
                "cannot write the audit log: {e}; {records} record(s) lost, counted in \
                 stats().recordsDropped (said again only after a write succeeds)"
            ));
        }
        SinkResult::Refused
    }
}

impl RecordSink for AuditLogSink {
    fn name(&self) -> &'static str {
        "audit log"
    }

    fn batch_limit(&self) -> BatchLimit {
        BatchLimit::AtMost(AUDIT_LOG_BATCH)
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [CallRecord],
        traces: &'a TraceBatch,
        pick: &'a (dyn Fn(usize) -> bool + Sync),
    ) -> SinkFuture<'a> {
        let lines = traces.lines(pick);
        Box::pin(async move {
            let log = self.log.clone();
            match tokio::task::spawn_blocking(move || log.append(&lines)).await {
                Ok(Ok(())) => {
                    self.failing.store(false, Relaxed);
                    SinkResult::Done
                }
                Ok(Err(e)) => self.failed(&e, (0..records.len()).filter(|&i| pick(i)).count()),
                Err(_) => self.failed(&io::Error::other("the write was cancelled"), records.len()),
            }
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

    /// Issue 18 item 10: a write that fails (a full disk) is refused, so
    /// the pipeline counts its records as dropped, never as written.
    #[tokio::test]
    async fn a_failed_write_is_refused_not_done() {
        let path = Path::new("/dev/full");
        if !path.exists() {
            return;
        }
        let sink = AuditLogSink::new(
            AuditLog::open(path).unwrap(),
            Arc::new(Logger::new(false, None)),
        );
        let records = [crate::records::record::sample_record("a")];
        let traces = TraceBatch::new(&records, "production");
        let all = |_: usize| true;
        assert_eq!(
            sink.deliver(&records, &traces, &all).await,
            SinkResult::Refused
        );
        assert!(sink.failing.load(Relaxed));
    }

    #[test]
    fn bad_path_is_an_error_naming_it() {
        let err = AuditLog::open(Path::new("/nonexistent-dir/x/audit.jsonl"))
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent-dir/x/audit.jsonl"), "{err}");
    }
}
