//! Sends closed bypass windows to the control plane: every `interval`, in
//! requests of at most `batch` windows; a batch the server refuses as bad
//! (400, 413, 422) is dropped, anything else is kept and tried again after
//! a backoff that doubles from `backoff_min` to `backoff_max`; at shutdown
//! every window is closed and one more try is made within `final_timeout`.

use super::windows::{Batch, Bypass, BypassReason, BypassWindows, WindowLimits};
use crate::clock::Iso8601;
use crate::control_plane::{backoff, ApiError, Connection};
use crate::log::Logger;
use crate::stats::Stats;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The official SDK's schedule.
#[derive(Debug, Clone, Copy)]
pub struct ReportTiming {
    pub interval: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub final_timeout: Duration,
    pub batch: usize,
    pub limits: WindowLimits,
}

impl Default for ReportTiming {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            backoff_min: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            final_timeout: Duration::from_secs(3),
            batch: 100,
            limits: WindowLimits::default(),
        }
    }
}

/// Who sends the windows, as the API's `sdk` field says.
const SDK_NAME: &str = "execlave-rust-core";
const SDK_LANGUAGE: &str = "rust";

pub struct BypassReporter {
    connection: Arc<Connection>,
    windows: Mutex<BypassWindows>,
    /// Whether a window may be open: lets [`recovered`](Self::recovered),
    /// called on every server decision, skip the lock when none is.
    maybe_open: AtomicBool,
    timing: ReportTiming,
    stats: Arc<Stats>,
    log: Arc<Logger>,
}

/// How one round of sending ended.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    Done,
    /// A batch failed in a way worth trying again; it was put back.
    Retry,
}

impl BypassReporter {
    pub fn new(
        connection: Arc<Connection>,
        timing: ReportTiming,
        stats: Arc<Stats>,
        log: Arc<Logger>,
    ) -> Self {
        Self {
            connection,
            windows: Mutex::new(BypassWindows::new(timing.limits)),
            maybe_open: AtomicBool::new(false),
            timing,
            stats,
            log,
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, BypassWindows> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one call that went ahead without a decision.
    pub fn record(
        &self,
        agent_id: &str,
        reason: BypassReason,
        message: &str,
        consecutive_failures: u32,
    ) {
        let bypass = Bypass {
            agent_id,
            reason,
            message,
            consecutive_failures,
        };
        self.windows()
            .record(&bypass, Instant::now(), SystemTime::now());
        self.maybe_open.store(true, Ordering::Release);
    }

    /// The control plane decided a call again: the open windows end. One
    /// atomic load when none is open (the usual case).
    pub fn recovered(&self) {
        if !self.maybe_open.swap(false, Ordering::AcqRel) {
            return;
        }
        self.windows().recover();
    }

    /// In a forked child: the windows kept are the parent's to report; the
    /// child forgets them rather than report each bypass twice.
    pub fn after_fork(&self) {
        *self.windows() = BypassWindows::new(self.timing.limits);
        self.maybe_open.store(false, Ordering::Release);
    }

    /// The sending loop; it ends when the runtime it runs on shuts down.
    pub async fn run(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            let wait = match failures {
                0 => self.timing.interval,
                n => backoff::ceiling(n - 1, self.timing.backoff_min, self.timing.backoff_max),
            };
            tokio::time::sleep(wait).await;
            self.windows().close_expired(Instant::now());
            match self.send_closed().await {
                Round::Done => failures = 0,
                Round::Retry => failures = failures.saturating_add(1),
            }
        }
    }

    /// At shutdown: every window closes, and what is kept is sent once,
    /// within the final timeout (or `limit`, if shorter). What is not sent
    /// then is lost: counted and said.
    pub async fn finish(&self, limit: Duration) {
        self.maybe_open.store(false, Ordering::Release);
        self.windows().recover();
        let limit = self.timing.final_timeout.min(limit);
        let sent = tokio::time::timeout(limit, self.send_closed()).await;
        if sent != Ok(Round::Done) {
            let lost = self.windows().take_batch(usize::MAX);
            let n = lost.as_ref().map_or(0, |b| b.windows.len() as u64);
            self.stats
                .bypass_windows_dropped
                .fetch_add(n, Ordering::Relaxed);
            if n > 0 {
                self.log.once("bypass-windows-lost", || {
                    format!(
                        "shutdown: {n} bypass window(s) could not be reported to the control \
                         plane; stats().bypassWindowsDropped counts them"
                    )
                });
            }
        }
    }

    /// Sends the closed windows, batch after batch, until none is left or
    /// one fails in a way worth trying again.
    async fn send_closed(&self) -> Round {
        loop {
            let Some(batch) = self.windows().take_batch(self.timing.batch) else {
                return Round::Done;
            };
            let n = batch.windows.len() as u64;
            match self
                .connection
                .api
                .report_bypass_windows(body(&batch))
                .await
            {
                Ok(()) => {
                    self.stats
                        .bypass_windows_sent
                        .fetch_add(n, Ordering::Relaxed);
                }
                Err(e) if is_refused_for_good(&e) => {
                    // Sending the same body again would be refused again.
                    self.stats
                        .bypass_windows_dropped
                        .fetch_add(n, Ordering::Relaxed);
                    self.log.once("bypass-windows-refused", || {
                        format!("the control plane refused a bypass-window report: {e}")
                    });
                }
                Err(e) => {
                    self.log
                        .debug(|| format!("bypass-window report failed, will retry: {e}"));
                    self.windows().put_back(batch, SystemTime::now());
                    return Round::Retry;
                }
            }
        }
    }
}

/// 400, 413, 422: the request itself is wrong; the official SDK drops it.
fn is_refused_for_good(e: &ApiError) -> bool {
    matches!(e, ApiError::Client(400 | 413 | 422, _))
}

/// `{"sdk", "sentAt", "windows", "dropped"?}`
fn body(batch: &Batch) -> Vec<u8> {
    let mut body = json!({
        "sdk": {
            "name": SDK_NAME,
            "language": SDK_LANGUAGE,
            "version": env!("CARGO_PKG_VERSION"),
        },
        "sentAt": Iso8601(SystemTime::now()).to_string(),
        "windows": batch.windows.iter().map(|w| w.to_json()).collect::<Vec<_>>(),
    });
    if let Some(d) = &batch.dropped {
        body["dropped"] = d.to_json();
    }
    serde_json::to_vec(&body).expect("JSON values serialise")
}
