//! The lockfile (`{"version": 1, "tools": {name: {digest, definition}}}`):
//! reading it strictly, writing it atomically. The definition is kept
//! beside its digest so that a change can be shown as a diff; a reader
//! therefore refuses an entry whose digest is not its definition's, since
//! a review would show one definition and pin another.

use super::canonical::digest_of;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

pub const LOCK_VERSION: u64 = 1;

/// One approved (or, in the pending file, seen) definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Pin {
    pub digest: String,
    /// None when it is not kept (too large to keep in the pending file, or
    /// absent in an old lockfile); the digest alone then decides.
    pub definition: Option<Value>,
}

impl Pin {
    pub fn of(definition: Value) -> Self {
        Self {
            digest: digest_of(&definition),
            definition: Some(definition),
        }
    }
}

/// Name → pin, sorted by name.
pub type Pins = BTreeMap<String, Pin>;

/// Why a lockfile or pending file cannot be used; names what to fix.
#[derive(Debug, PartialEq)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a lockfile; Ok(None) when there is none.
pub fn read_lockfile(path: &Path) -> Result<Option<Pins>, FileError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FileError(format!("cannot read {}: {e}", path.display()))),
    };
    parse_lockfile(&text)
        .map(Some)
        .map_err(|why| FileError(format!("{}: {why}", path.display())))
}

/// The pins a lockfile's text holds.
pub fn parse_lockfile(text: &str) -> Result<Pins, String> {
    let data: Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON ({e}); fix or delete it"))?;
    let tools = versioned_tools(&data, "tool lockfile")?;
    parse_pins(tools)
}

/// The `tools` object of a version 1 file.
pub(super) fn versioned_tools<'a>(
    data: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>, String> {
    let not = || format!("is not a version {LOCK_VERSION} {what}");
    let object = data.as_object().ok_or_else(not)?;
    if object.get("version").and_then(Value::as_u64) != Some(LOCK_VERSION) {
        return Err(not());
    }
    object
        .get("tools")
        .and_then(Value::as_object)
        .ok_or_else(not)
}

pub(super) fn parse_pins(tools: &Map<String, Value>) -> Result<Pins, String> {
    let mut pins = Pins::new();
    for (name, entry) in tools {
        pins.insert(name.clone(), parse_pin(name, entry)?);
    }
    Ok(pins)
}

fn parse_pin(name: &str, entry: &Value) -> Result<Pin, String> {
    let shown = crate::log::one_line(name);
    let digest = entry
        .get("digest")
        .and_then(Value::as_str)
        .filter(|d| is_digest(d))
        .ok_or_else(|| format!("tool \"{shown}\" has no sha256 digest"))?;
    let definition = match entry.get("definition") {
        None | Some(Value::Null) => None,
        Some(definition) => {
            if digest_of(definition) != digest {
                return Err(format!(
                    "the digest of tool \"{shown}\" is not its definition's (edited by hand?); re-pin it"
                ));
            }
            if definition
                .get("name")
                .is_some_and(|n| n.as_str() != Some(name))
            {
                return Err(format!(
                    "tool \"{shown}\" holds the definition of another name"
                ));
            }
            Some(definition.clone())
        }
    };
    Ok(Pin {
        digest: digest.to_owned(),
        definition,
    })
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

pub(super) fn pins_json(pins: &Pins) -> Value {
    let tools: Map<String, Value> = pins
        .iter()
        .map(|(name, pin)| {
            let mut entry = Map::new();
            entry.insert("digest".into(), Value::String(pin.digest.clone()));
            entry.insert(
                "definition".into(),
                pin.definition.clone().unwrap_or(Value::Null),
            );
            (name.clone(), Value::Object(entry))
        })
        .collect();
    Value::Object(tools)
}

/// The lockfile's text: sorted names, two-space indent, a final newline.
pub fn lockfile_text(pins: &Pins) -> String {
    let mut data = Map::new();
    data.insert("version".into(), LOCK_VERSION.into());
    data.insert("tools".into(), pins_json(pins));
    pretty(&Value::Object(data))
}

pub(super) fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `text` to `path` all at once: a reader sees the old file or the
/// new one, never half of one.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{:012x}.tmp",
        std::process::id(),
        fastrand::u64(..) >> 16
    ));
    let tmp = std::path::PathBuf::from(tmp);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_written_reads_back_equal() {
        let mut pins = Pins::new();
        pins.insert(
            "a".into(),
            Pin::of(json!({"name": "a", "description": "x\u{1b}[2J"})),
        );
        pins.insert(
            "b".into(),
            Pin {
                digest: format!("sha256:{}", "0".repeat(64)),
                definition: None,
            },
        );
        assert_eq!(parse_lockfile(&lockfile_text(&pins)).unwrap(), pins);
    }

    #[test]
    fn a_lockfile_written_by_the_javascript_code_reads_and_matches() {
        // Written by lib/tool-pins.js before the core held this logic:
        // every digest must equal the core's digest of its definition.
        let text = include_str!("../../../__test__/data/tool-pins-v1.lock.json");
        let pins = parse_lockfile(text).unwrap();
        assert_eq!(pins.len(), 3);
        assert_eq!(
            lockfile_text(&pins),
            parse_lockfile(&lockfile_text(&pins))
                .map(|p| lockfile_text(&p))
                .unwrap()
        );
    }

    #[test]
    fn a_digest_that_is_not_the_definitions_is_refused() {
        let mut pins = Pins::new();
        pins.insert(
            "a".into(),
            Pin::of(json!({"name": "a", "description": "one"})),
        );
        let forged = lockfile_text(&pins).replace("one", "two");
        assert!(parse_lockfile(&forged)
            .unwrap_err()
            .contains("edited by hand"));
    }
}
