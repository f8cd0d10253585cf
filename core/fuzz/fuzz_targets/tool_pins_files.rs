//! The tool-pins lockfile and `<lockfile>.pending` readers (issue 18:
//! "the lockfile and pending-file reader"). Input: the first byte picks
//! the reader, the rest is the file's text.
//!
//! Invariants beyond "no panic":
//! - a file read pins nothing differently from what a review shows: every
//!   kept definition's digest is the digest read;
//! - round trip: what is written reads back equal (lockfile) or writes the
//!   same text again (pending);
//! - the pending file read is held to its bounds, whatever its size;
//! - the review's lines of anything read hold no character that could
//!   steer a terminal.

#![no_main]

use execlave_core::tools::canonical::digest_of;
use execlave_core::tools::diff::definition_diff;
use execlave_core::tools::lockfile::{lockfile_text, parse_lockfile, Pin};
use execlave_core::tools::pending::{parse_pending, MAX_CHANGES, MAX_TOOLS};
use libfuzzer_sys::fuzz_target;

fn shown_as_pinned(name: &str, pin: &Pin) {
    if let Some(definition) = &pin.definition {
        assert_eq!(digest_of(definition), pin.digest, "{name:?}: pinned digest is not the shown definition's");
    }
    for line in definition_diff(name, None, pin.definition.as_ref()) {
        assert!(
            !line.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
            "unescaped review line {line:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(pins) = parse_lockfile(text) else {
            return;
        };
        for (name, pin) in &pins {
            shown_as_pinned(name, pin);
        }
        let again = parse_lockfile(&lockfile_text(&pins)).expect("a written lockfile reads back");
        assert_eq!(again, pins, "lockfile round trip");
    } else {
        let Ok(pending) = parse_pending(text) else {
            return;
        };
        let names = pending.names();
        assert!(names.len() <= MAX_TOOLS, "{} pending tools kept", names.len());
        assert!(pending.changes().count() <= MAX_CHANGES);
        for name in &names {
            shown_as_pinned(name, pending.get(name).expect("a listed name has an entry"));
        }
        let written = pending.text();
        let again = parse_pending(&written).expect("a written pending file reads back");
        assert_eq!(again.names().len(), names.len());
        assert_eq!(again.text(), written, "pending round trip");
    }
});
