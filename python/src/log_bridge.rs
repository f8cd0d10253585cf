//! The core's diagnostics to Python's `logging` (issue 19): a governor made
//! with a `log(level, line)` callable (`execlave._logging.native_line`)
//! hands every line to it.
//!
//! Lines come from any thread, some of which hold core locks, while a
//! Python thread holding the GIL may be waiting on those locks: taking the
//! GIL where a line is made could deadlock. So lines go through a queue to
//! one thread that holds nothing else and takes the GIL to deliver them,
//! in order. Delivery is asynchronous; at interpreter exit the last lines
//! may not be delivered (`Python::try_attach` then does nothing).

use execlave_core::log::{Level, LogSink};
use pyo3::prelude::*;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};

type Line = (Arc<Py<PyAny>>, &'static str, String);

fn queue() -> &'static Mutex<Sender<Line>> {
    static QUEUE: OnceLock<Mutex<Sender<Line>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
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
                }
            })
            .expect("spawn the execlave-log thread");
        Mutex::new(tx)
    })
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
        let tx = queue().lock().unwrap_or_else(|e| e.into_inner());
        let _ = tx.send((log.clone(), level, line.to_owned()));
    }))
}
