//! The core's diagnostics to Python's `logging` (issue 19): a governor made
//! with a `log(level, line)` callable (`execlave._log.native_line`) hands
//! every line to it.
//!
//! Lines come from any thread, some of which hold core locks, while a
//! Python thread holding the GIL may be waiting on those locks: taking the
//! GIL where a line is made could deadlock. So lines go through a queue to
//! one thread that holds nothing else and takes the GIL to deliver them,
//! in order. Delivery is asynchronous; [`wait_delivered`] waits (the GIL
//! released) until the lines said so far have reached `logging`, which
//! `flush()` and `shutdown()` do, so a line said before them is never
//! lost. A forked child has no copy of the delivery thread: the first line
//! said there starts one of its own.

use execlave_core::log::{Level, LogSink};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Line = (Arc<Py<PyAny>>, &'static str, String);

/// The queue to the delivery thread, and the process that thread runs in.
struct Queue {
    pid: u32,
    tx: Sender<Line>,
}

static QUEUE: Mutex<Option<Queue>> = Mutex::new(None);
/// Lines handed to the queue, and lines delivered (or given up on).
static SENT: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);

fn start_delivery() -> Sender<Line> {
    let (tx, rx) = channel::<Line>();
    std::thread::Builder::new()
        .name("execlave-log".into())
        .spawn(move || {
            for (log, level, line) in rx {
                Python::try_attach(|py| {
                    if let Err(e) = log.call1(py, (level, line)) {
                        e.write_unraisable(py, None);
                    }
                });
                DONE.fetch_add(1, Ordering::Release);
            }
        })
        .expect("spawn the execlave-log thread");
    tx
}

fn send(line: Line) {
    let mut queue = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if queue.as_ref().is_none_or(|q| q.pid != pid) {
        // First line, or the first in a forked child: the lines the
        // parent's thread had not delivered are not this process's to wait
        // for.
        DONE.store(SENT.load(Ordering::Acquire), Ordering::Release);
        *queue = Some(Queue {
            pid,
            tx: start_delivery(),
        });
    }
    SENT.fetch_add(1, Ordering::AcqRel);
    if let Some(q) = queue.as_ref() {
        if q.tx.send(line).is_err() {
            DONE.fetch_add(1, Ordering::Release);
        }
    }
}

/// Waits up to `timeout` for the lines said so far to reach `logging`;
/// true when they have. The caller must not hold the GIL (the delivery
/// thread needs it).
pub fn wait_delivered(timeout: Duration) -> bool {
    let target = SENT.load(Ordering::Acquire);
    let deadline = Instant::now() + timeout;
    while DONE.load(Ordering::Acquire) < target {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// `log(level, line)` as the core's sink; `level` is `"warning"`,
/// `"info"` or `"debug"`, as `logging` names them.
pub fn sink(log: Py<PyAny>) -> LogSink {
    let log = Arc::new(log);
    LogSink(Arc::new(move |level: Level, line: &str| {
        let level = match level {
            Level::Error | Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug | Level::Trace => "debug",
        };
        send((log.clone(), level, line.to_owned()));
    }))
}
