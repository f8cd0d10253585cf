//! `<lockfile>.pending`: the definitions seen but not accepted, for review
//! (`execlave-pins diff`), with a short history of changes. A server can
//! list any number of tools of any size, as often as it likes, so the file
//! is bounded: one entry per tool (the newest wins), at most
//! [`MAX_TOOLS`] tools and [`MAX_BYTES`] of definitions (the oldest go
//! first), a definition over [`MAX_DEFINITION_BYTES`] kept as its digest
//! only, and at most [`MAX_CHANGES`] history lines.

use super::canonical::canonical_json;
use super::lockfile::{
    parse_pins, pins_json, pretty, versioned_tools, FileError, Pin, LOCK_VERSION,
};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

pub const MAX_TOOLS: usize = 500;
pub const MAX_BYTES: usize = 4 << 20;
pub const MAX_DEFINITION_BYTES: usize = 64 << 10;
pub const MAX_CHANGES: usize = 200;

pub fn pending_path(lockfile: &Path) -> PathBuf {
    let mut path = lockfile.as_os_str().to_owned();
    path.push(".pending");
    PathBuf::from(path)
}

/// One line of history.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeLine {
    pub at: String,
    pub tool: String,
    pub kind: String,
    pub pinned: Option<String>,
    pub seen: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pending {
    /// Name → (order of last change, definition seen).
    tools: HashMap<String, (u64, Pin)>,
    changes: VecDeque<ChangeLine>,
    next: u64,
    bytes: usize,
}

impl Pending {
    /// Adds a seen definition (replacing the tool's older one) and its
    /// history line, then drops the oldest until within bounds.
    pub fn add(&mut self, tool: &str, mut seen: Pin, line: ChangeLine) {
        let size = definition_size(&seen);
        if size > MAX_DEFINITION_BYTES {
            seen.definition = None;
        }
        self.remove(tool);
        self.bytes += definition_size(&seen);
        self.tools.insert(tool.to_owned(), (self.next, seen));
        self.next += 1;
        self.changes.push_back(line);
        while self.changes.len() > MAX_CHANGES {
            self.changes.pop_front();
        }
        while self.tools.len() > MAX_TOOLS || self.bytes > MAX_BYTES {
            let oldest = self
                .tools
                .iter()
                .min_by_key(|(_, (order, _))| *order)
                .map(|(n, _)| n.clone());
            match oldest {
                Some(name) => {
                    self.remove(&name);
                }
                None => break,
            }
        }
    }

    pub fn remove(&mut self, tool: &str) -> Option<Pin> {
        let (_, pin) = self.tools.remove(tool)?;
        self.bytes -= definition_size(&pin);
        Some(pin)
    }

    pub fn get(&self, tool: &str) -> Option<&Pin> {
        self.tools.get(tool).map(|(_, pin)| pin)
    }

    /// Tool names, oldest change first.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<(&u64, &String)> = self.tools.iter().map(|(n, (o, _))| (o, n)).collect();
        names.sort();
        names.into_iter().map(|(_, n)| n.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn changes(&self) -> impl Iterator<Item = &ChangeLine> {
        self.changes.iter()
    }

    pub fn text(&self) -> String {
        let mut data = Map::new();
        data.insert("version".into(), LOCK_VERSION.into());
        let pins = self
            .tools
            .iter()
            .map(|(n, (_, p))| (n.clone(), p.clone()))
            .collect();
        data.insert("tools".into(), pins_json(&pins));
        let changes = self.changes.iter().map(change_json).collect();
        data.insert("changes".into(), Value::Array(changes));
        pretty(&Value::Object(data))
    }
}

fn definition_size(pin: &Pin) -> usize {
    pin.definition
        .as_ref()
        .map_or(0, |d| canonical_json(d).len())
}

fn change_json(line: &ChangeLine) -> Value {
    let mut m = Map::new();
    m.insert("at".into(), line.at.clone().into());
    m.insert("tool".into(), line.tool.clone().into());
    m.insert("kind".into(), line.kind.clone().into());
    m.insert(
        "pinned".into(),
        line.pinned.clone().map_or(Value::Null, Value::String),
    );
    m.insert("seen".into(), line.seen.clone().into());
    Value::Object(m)
}

/// The pending changes in a file's text, held to the bounds (a file
/// written by an older version may be larger). Entries are checked as the
/// lockfile's are: what `accept` pins is what `diff` showed.
pub fn parse_pending(text: &str) -> Result<Pending, String> {
    let data: Value = serde_json::from_str(text).map_err(|e| format!("is not JSON ({e})"))?;
    let pins = parse_pins(versioned_tools(&data, "pending tool list")?)?;
    let lines: Vec<ChangeLine> = data
        .get("changes")
        .and_then(Value::as_array)
        .map(|all| all.iter().filter_map(parse_change).collect())
        .unwrap_or_default();
    // Oldest first: by the last history line that names the tool.
    let mut order: Vec<(usize, String, Pin)> = pins
        .into_iter()
        .map(|(name, pin)| {
            (
                lines
                    .iter()
                    .rposition(|l| l.tool == name)
                    .map_or(0, |i| i + 1),
                name,
                pin,
            )
        })
        .collect();
    order.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut pending = Pending::default();
    for (_, name, pin) in order {
        let line = ChangeLine {
            at: String::new(),
            tool: name.clone(),
            kind: String::new(),
            pinned: None,
            seen: pin.digest.clone(),
        };
        pending.add(&name, pin, line);
    }
    pending.changes = lines.into_iter().rev().take(MAX_CHANGES).rev().collect();
    Ok(pending)
}

fn parse_change(v: &Value) -> Option<ChangeLine> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(ChangeLine {
        at: s("at")?,
        tool: s("tool")?,
        kind: s("kind")?,
        pinned: s("pinned"),
        seen: s("seen")?,
    })
}

/// The pending file next to `lockfile`; an empty one when there is none.
pub fn read_pending(lockfile: &Path) -> Result<Pending, FileError> {
    let path = pending_path(lockfile);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            parse_pending(&text).map_err(|why| FileError(format!("{}: {why}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pending::default()),
        Err(e) => Err(FileError(format!("cannot read {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(tool: &str) -> ChangeLine {
        ChangeLine {
            at: "t".into(),
            tool: tool.into(),
            kind: "new".into(),
            pinned: None,
            seen: "s".into(),
        }
    }

    #[test]
    fn bounded_per_tool_and_in_total_newest_wins() {
        let mut p = Pending::default();
        for round in 0..3 {
            for i in 0..(MAX_TOOLS + 50) {
                let name = format!("t{i}");
                p.add(
                    &name,
                    Pin::of(json!({"name": name, "description": round})),
                    line(&name),
                );
            }
        }
        assert_eq!(p.names().len(), MAX_TOOLS);
        assert!(p.get("t0").is_none(), "the oldest went first");
        assert_eq!(
            p.get(&format!("t{}", MAX_TOOLS + 49))
                .unwrap()
                .definition
                .as_ref()
                .unwrap()["description"],
            2
        );
        assert!(p.changes().count() <= MAX_CHANGES);
        let big = "x".repeat(MAX_DEFINITION_BYTES + 1);
        p.add(
            "big",
            Pin::of(json!({"name": "big", "description": big})),
            line("big"),
        );
        assert!(
            p.get("big").unwrap().definition.is_none(),
            "kept as its digest only"
        );
        assert!(p.text().len() < MAX_BYTES + (MAX_CHANGES + MAX_TOOLS) * 512);
    }

    #[test]
    fn what_is_written_reads_back_equal() {
        let mut p = Pending::default();
        p.add("a", Pin::of(json!({"name": "a"})), line("a"));
        p.add("b", Pin::of(json!({"name": "b"})), line("b"));
        let back = parse_pending(&p.text()).unwrap();
        assert_eq!(back.names(), p.names());
        assert_eq!(back.text(), p.text());
    }
}
