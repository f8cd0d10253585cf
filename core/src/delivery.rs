//! Moves records from the buffer to where they belong (the audit log now,
//! the control plane too when there is one), in batches, on the runtime.

use crate::audit_log::AuditLog;
use crate::control_plane::{send_batch, RetryPolicy, SendResult};
use crate::governor::Shared;
use crate::trace_batch::TraceBatch;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long trace sending pauses after the API says the quota is used up.
const QUOTA_PAUSE: Duration = Duration::from_secs(60);
use tokio::sync::{oneshot, Notify};

pub struct Delivery {
    wake: Arc<Notify>,
    waiters: Mutex<Vec<oneshot::Sender<()>>>,
    audit_log: Option<Arc<AuditLog>>,
    quota_paused_until: Mutex<Option<Instant>>,
}

impl Delivery {
    pub fn new(audit_log: Option<AuditLog>) -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            waiters: Mutex::new(Vec::new()),
            audit_log: audit_log.map(Arc::new),
            quota_paused_until: Mutex::new(None),
        }
    }

    /// Asks for a delivery round now (a full batch is waiting).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves once everything buffered before the call has been handed to
    /// the sinks (delivered, or finally given up on and counted as dropped).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        self.wake.notify_one();
        // A closed channel means the loop is gone (shutdown): nothing more
        // will be delivered, so there is nothing left to wait for.
        let _ = rx.await;
    }

    /// The delivery loop. It holds the governor weakly so that a client that
    /// is dropped without `shutdown()` does not live on through its task.
    pub async fn run(shared: Weak<Shared>) {
        let interval = match shared.upgrade() {
            Some(s) => Duration::from_millis(s.options.flush_interval_ms()),
            None => return,
        };
        loop {
            let wake = {
                let Some(s) = shared.upgrade() else { return };
                let Some(d) = s.delivery.as_ref() else { return };
                d.wake.clone()
            };
            let woken = wake.notified();
            tokio::pin!(woken);
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(interval) => {}
            }
            let Some(s) = shared.upgrade() else { return };
            let d = s.delivery.as_ref().expect("checked above");
            // Answer only the waiters that were there before this round.
            let waiters = std::mem::take(&mut *d.waiters.lock().unwrap_or_else(|e| e.into_inner()));
            d.deliver_buffered(&s).await;
            for w in waiters {
                let _ = w.send(());
            }
        }
    }

    /// Delivers what is buffered now, batch by batch; records arriving
    /// meanwhile wait for the next round, so a busy agent cannot starve
    /// `flush()`.
    async fn deliver_buffered(&self, s: &Arc<Shared>) {
        let mut left = s.buffer.len();
        while left > 0 {
            let mut batch = s.buffer.take(left.min(s.options.batch_size));
            if batch.is_empty() {
                break;
            }
            left -= batch.len();
            let traces = TraceBatch::new(&batch, &s.options.environment);
            let n = batch.len() as u64;
            if let Some(log) = &self.audit_log {
                // Records retried for the control plane were logged already.
                let fresh = traces.lines(|i| !batch[i].audit_logged);
                let log = log.clone();
                match tokio::task::spawn_blocking(move || log.append(&fresh)).await {
                    Ok(Ok(())) => batch.iter_mut().for_each(|r| r.audit_logged = true),
                    Ok(Err(e)) => s.log.once("audit-log-write", || {
                        format!("cannot write the audit log: {e}; its records are lost")
                    }),
                    Err(_) => {}
                }
            }
            let Some(api) = &s.api else {
                s.stats.records_written.fetch_add(n, Relaxed);
                continue;
            };
            // A dead control plane (open breaker) or a used-up quota: keep
            // the records for a later round rather than hammer the API.
            if self.quota_paused() || !s.breaker.allow_request() {
                s.buffer.requeue_front(batch);
                return;
            }
            match send_batch(api, &traces.ingest_body(), &RetryPolicy::default()).await {
                SendResult::Delivered => {
                    crate::sync::succeeded(s);
                    s.stats.records_written.fetch_add(n, Relaxed);
                }
                SendResult::QuotaExceeded => {
                    *self
                        .quota_paused_until
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + QUOTA_PAUSE);
                    s.log.once("trace-quota", || {
                        format!(
                            "the Execlave trace quota is used up (HTTP 402): sending paused for {} s, \
                             records stay buffered (oldest dropped when full)",
                            QUOTA_PAUSE.as_secs()
                        )
                    });
                    s.buffer.requeue_front(batch);
                    return;
                }
                SendResult::Rejected(why) => {
                    s.buffer.count_dropped(n);
                    s.log
                        .debug(|| format!("the control plane refused {n} records: {why}"));
                }
                SendResult::AuthFailed => {
                    s.buffer.count_dropped(n);
                    crate::sync::failed(
                        s,
                        &crate::control_plane::ApiError::Auth(401),
                        "trace delivery",
                    );
                }
                SendResult::GaveUp(why) => {
                    s.log
                        .debug(|| format!("trace delivery failed, will retry: {why}"));
                    s.buffer.requeue_front(batch);
                    return;
                }
            }
        }
    }

    fn quota_paused(&self) -> bool {
        let mut until = self
            .quota_paused_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }
}
