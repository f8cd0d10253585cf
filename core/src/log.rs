//! Diagnostics, through the `log` facade (target `execlave`). Debug lines
//! only when the user asked for them; a few problems (a rejected key, the
//! first fail-open bypass, the first failed sync) once, always, because
//! staying silent about them would hide why calls are refused or let
//! through unchecked.
//!
//! Where a line goes: to the host's logger when the binding gave one (a
//! [`LogSink`]: Node's `logger` option, Python's `logging`); else to the
//! `log` facade, that is to an embedding Rust program's logger, or, when
//! the process has none, to stderr as `[execlave] …` ([`StderrLog`]).
//!
//! Every line is written through one place that removes the API key and
//! escapes what could break or steer a line, whoever wrote its text (a
//! tool name from a model, a reason from the server). A debug line equal
//! to the one before is not repeated: it is counted, and the count said
//! with the next different line.

pub use log::Level;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The target of every line, as `log` filters see it.
pub const TARGET: &str = "execlave";

/// What a host's logger is called with: each line's level and text
/// (already without the key, on one line), from any thread.
pub type LogFn = dyn Fn(Level, &str) + Send + Sync;

/// A host's logger.
#[derive(Clone)]
pub struct LogSink(pub Arc<LogFn>);

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink")
    }
}

pub struct Logger {
    debug: bool,
    /// The API key: removed from every line.
    secret: Option<String>,
    sink: Option<LogSink>,
    said_once: Mutex<HashSet<&'static str>>,
    /// The last debug line and how often it came again since.
    last_debug: Mutex<(String, u64)>,
}

impl Logger {
    pub fn new(debug: bool, secret: Option<String>) -> Self {
        Self {
            debug,
            secret,
            sink: None,
            said_once: Mutex::new(HashSet::new()),
            last_debug: Mutex::new((String::new(), 0)),
        }
    }

    /// Lines go to `sink` instead of the `log` facade.
    pub fn with_sink(mut self, sink: Option<LogSink>) -> Self {
        self.sink = sink;
        self
    }

    pub fn debug(&self, message: impl FnOnce() -> String) {
        if !self.debug {
            return;
        }
        let line = self.line(message());
        let mut last = self.last_debug.lock().unwrap_or_else(|e| e.into_inner());
        if last.0 == line {
            last.1 += 1;
            return;
        }
        let repeated = std::mem::replace(&mut *last, (line.clone(), 0)).1;
        drop(last);
        self.say_repeats(repeated);
        self.emit(Level::Debug, &line);
    }

    /// Before a line that differs from the last debug line: how often that
    /// one came again, so that "the line before" is still the right one.
    fn say_repeats(&self, repeated: u64) {
        if repeated > 0 {
            self.emit(
                Level::Debug,
                &format!(
                    "(the line before came {repeated} more time{})",
                    if repeated == 1 { "" } else { "s" }
                ),
            );
        }
    }

    /// Warns with `message` the first time `key` is seen, whatever `debug`
    /// says.
    pub fn once(&self, key: &'static str, message: impl FnOnce() -> String) {
        self.said_once(key, message);
    }

    /// As [`Self::once`]; true when this call was the one that said it.
    pub fn said_once(&self, key: &'static str, message: impl FnOnce() -> String) -> bool {
        let first = self
            .said_once
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        if first {
            let line = self.line(message());
            let repeated = {
                let mut last = self.last_debug.lock().unwrap_or_else(|e| e.into_inner());
                std::mem::take(&mut *last).1
            };
            self.say_repeats(repeated);
            self.emit(Level::Warn, &line);
        }
        first
    }

    /// Prints `message` whatever `debug` says: for a caller that decides
    /// itself when a problem is worth saying again (once per episode).
    pub fn warn(&self, message: String) {
        let line = self.line(message);
        self.emit(Level::Warn, &line);
    }

    fn emit(&self, level: Level, line: &str) {
        match &self.sink {
            Some(sink) => (sink.0)(level, line),
            None => {
                StderrLog::install();
                log::log!(target: TARGET, level, "{line}");
            }
        }
    }

    /// The text of a line as written: without the key, on one line.
    fn line(&self, message: String) -> String {
        let message = match &self.secret {
            Some(key) => crate::redact::redact_key(message, key),
            None => message,
        };
        one_line(&message).into_owned()
    }
}

impl Drop for Logger {
    /// The repeats of the last debug line are said before the client goes.
    fn drop(&mut self) {
        let last = self.last_debug.get_mut().unwrap_or_else(|e| e.into_inner());
        let repeated = std::mem::take(last).1;
        self.say_repeats(repeated);
    }
}

/// The process's `log` logger when nothing else installed one: our lines on
/// stderr, as `[execlave] …`; other crates' lines are not ours to print.
pub struct StderrLog;

static STDERR_LOG: StderrLog = StderrLog;

impl StderrLog {
    /// Installs it unless the process already has a logger (then lines go
    /// there, filtered as its owner chose).
    pub fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if log::set_logger(&STDERR_LOG).is_ok() {
                // Our own filter (`debug`) decides which lines exist.
                log::set_max_level(log::LevelFilter::Debug);
            }
        });
    }
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == TARGET
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[execlave] {}", record.args());
        }
    }
    fn flush(&self) {}
}

/// `text` with every character that could end a line or steer a terminal
/// (C0/C1 controls, DEL, U+2028/U+2029, bidirectional overrides and
/// isolates) escaped as Rust writes it in a string literal, so that a tool
/// name or a server's text can neither forge a log line nor hide one.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let breaks_line = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(breaks_line) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if breaks_line(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_line_separators_are_escaped() {
        assert_eq!(one_line("plain \"text\" é"), "plain \"text\" é");
        assert_eq!(
            one_line("a\n[execlave] b\r\u{1b}[2K\u{2028}\u{202e}"),
            "a\\n[execlave] b\\r\\u{1b}[2K\\u{2028}\\u{202e}"
        );
    }

    #[test]
    fn a_line_never_shows_the_key_in_any_case() {
        let log = Logger::new(true, Some("exe_live_Key9".into()));
        assert_eq!(
            log.line("denied: EXE_LIVE_KEY9\nfake".into()),
            "denied: [redacted]\\nfake"
        );
    }

    type Lines = Arc<Mutex<Vec<(Level, String)>>>;

    fn captured(debug: bool) -> (Logger, Lines) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let into = lines.clone();
        let sink = LogSink(Arc::new(move |level, line: &str| {
            into.lock().unwrap().push((level, line.to_owned()));
        }));
        (Logger::new(debug, None).with_sink(Some(sink)), lines)
    }

    #[test]
    fn debug_lines_are_not_repeated() {
        let (log, lines) = captured(true);
        for _ in 0..3 {
            log.debug(|| "sync failed".into());
        }
        log.debug(|| "sync done".into());
        log.debug(|| "sync done".into());
        drop(log);
        let got: Vec<String> = lines.lock().unwrap().iter().map(|l| l.1.clone()).collect();
        assert_eq!(
            got,
            [
                "sync failed",
                "(the line before came 2 more times)",
                "sync done",
                "(the line before came 1 more time)"
            ]
        );
    }

    #[test]
    fn once_lines_are_warnings_even_without_debug() {
        let (log, lines) = captured(false);
        log.debug(|| "hidden".into());
        assert!(log.said_once("k", || "said".into()));
        assert!(!log.said_once("k", || "said again".into()));
        assert_eq!(*lines.lock().unwrap(), [(Level::Warn, "said".to_owned())]);
    }
}
