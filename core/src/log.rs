//! Diagnostics on stderr. Debug lines only when the user asked for them;
//! a few configuration problems (a rejected key) once, always, because
//! staying silent about them would hide why every call is refused.
//!
//! Every line is written through one place that removes the API key and
//! escapes what could break or steer a line, whoever wrote its text (a
//! tool name from a model, a reason from the server).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;

pub struct Logger {
    debug: bool,
    /// The API key: removed from every line.
    secret: Option<String>,
    said_once: Mutex<HashSet<&'static str>>,
}

impl Logger {
    pub fn new(debug: bool, secret: Option<String>) -> Self {
        Self {
            debug,
            secret,
            said_once: Mutex::new(HashSet::new()),
        }
    }

    pub fn debug(&self, message: impl FnOnce() -> String) {
        if self.debug {
            self.write(message());
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
            self.write(message());
        }
    }

    fn write(&self, message: String) {
        eprintln!("[execlave] {}", self.line(message));
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
}
