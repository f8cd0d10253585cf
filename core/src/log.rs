//! Diagnostics on stderr. Debug lines only when the user asked for them;
//! a few configuration problems (a rejected key) once, always, because
//! staying silent about them would hide why every call is refused.

use std::collections::HashSet;
use std::sync::Mutex;

pub struct Logger {
    debug: bool,
    said_once: Mutex<HashSet<&'static str>>,
}

impl Logger {
    pub fn new(debug: bool) -> Self {
        Self {
            debug,
            said_once: Mutex::new(HashSet::new()),
        }
    }

    pub fn debug(&self, message: impl FnOnce() -> String) {
        if self.debug {
            eprintln!("[execlave] {}", message());
        }
    }

    /// Prints `message` the first time `key` is seen, whatever `debug` says.
    pub fn once(&self, key: &'static str, message: impl FnOnce() -> String) {
        let first = self
            .said_once
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        if first {
            eprintln!("[execlave] {}", message());
        }
    }
}
