//! The pin check of one wrapped client (option `toolPins`). A lockfile
//! holds the digest of each tool's definition as it was approved; a server
//! that changes a definition afterwards (a "rug pull") is noticed at the
//! next listing. The model reads descriptions as instructions: a changed
//! one is a changed tool, whatever its name.
//!
//! Rules (issue 18 items 2 and 3):
//! - without a lockfile, the first listing call is trusted and pinned, and
//!   the window closes when that call ends, whatever its paging;
//! - a tool seen with a definition other than its pin, on any page, or
//!   two definitions of one name in one listing, is flagged until the
//!   lockfile pins what was seen (`execlave-pins accept`), whatever the
//!   server lists afterwards: the model has already read it;
//! - one listing takes at most [`MAX_PAGES`] pages.

use super::diff::definition_diff;
use super::lockfile::{lockfile_text, read_lockfile, write_atomic, Pin, Pins};
use super::pending::{pending_path, read_pending, ChangeLine, Pending};
use super::writer::PendingWriter;
use crate::error::Error;
use crate::log::one_line;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

pub const MAX_PAGES: u32 = 100;
pub const PIN_POLICY_ID: &str = "execlave_tool_pins";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OnToolChange {
    Warn,
    Block,
}

impl OnToolChange {
    pub fn parse(text: &str, option: &str) -> Result<Self, Error> {
        match text {
            "warn" => Ok(Self::Warn),
            "block" => Ok(Self::Block),
            other => Err(Error::invalid_argument(format!(
                "{option} must be 'warn' or 'block', got {:?}",
                one_line(other)
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flag {
    New,
    Changed,
}

impl Flag {
    fn kind(self) -> &'static str {
        match self {
            Flag::New => "new",
            Flag::Changed => "changed",
        }
    }
}

/// A change seen in a listing, for the host's log and `onChange`.
#[derive(Clone, Debug)]
pub struct ToolChange {
    pub tool: String,
    pub kind: &'static str,
    pub pinned_digest: Option<String>,
    pub seen_digest: Option<String>,
    /// Escaped lines.
    pub diff: Vec<String>,
    pub blocked: bool,
    /// The debug log line, escaped, naming the command to review it.
    pub message: String,
}

/// One listed tool as the host read it: its name, and its pinned fields
/// as JSON (None: they could not be read; such a tool is never trusted).
pub struct ListedTool {
    pub name: String,
    pub definition: Option<Value>,
}

#[derive(Default)]
struct Listing {
    pages: u32,
    /// Trusted tools could not be written: the window stays open.
    unwritten: bool,
    /// Name → digest seen in this listing (None: unreadable).
    seen: HashMap<String, Option<String>>,
}

/// File identity and stamp: a lockfile changed on disk is read again.
type Stamp = Option<(SystemTime, u64)>;

pub struct ToolPins {
    file: PathBuf,
    block: bool,
    /// The command that reviews changes, as the host's user runs it.
    command: String,
    pins: Pins,
    stamp: Stamp,
    first_use: bool,
    flagged: HashMap<String, Flag>,
    /// Name → the last digest seen (None: unreadable).
    last_seen: HashMap<String, Option<String>>,
    /// What was last reported per tool, so a listing repeats nothing.
    reported: HashMap<String, (Flag, Option<String>)>,
    listings: HashMap<u32, Listing>,
    next_listing: u32,
    listed: bool,
    pending: Pending,
    writer: PendingWriter,
}

impl ToolPins {
    /// Reads the lockfile now: a corrupt one is a configuration error, told
    /// at once. `command`: how the host's user runs `execlave-pins`.
    pub fn open(file: PathBuf, on_change: OnToolChange, command: String) -> Result<Self, Error> {
        if file.as_os_str().is_empty() {
            return Err(Error::invalid_argument(
                "toolPins must be the path of a JSON lockfile",
            ));
        }
        let pending = read_pending(&file).unwrap_or_default();
        let writer = PendingWriter::new(pending_path(&file));
        let mut pins = Self {
            file,
            block: on_change == OnToolChange::Block,
            command,
            pins: Pins::new(),
            stamp: None,
            first_use: false,
            flagged: HashMap::new(),
            last_seen: HashMap::new(),
            reported: HashMap::new(),
            listings: HashMap::new(),
            next_listing: 0,
            listed: false,
            pending,
            writer,
        };
        pins.stamp = pins.stamp_now()?;
        match read_lockfile(&pins.file)
            .map_err(|e| Error::invalid_argument(format!("toolPins: {e}")))?
        {
            Some(read) => pins.pins = read,
            None => pins.first_use = true,
        }
        Ok(pins)
    }

    fn stamp_now(&self) -> Result<Stamp, Error> {
        match std::fs::metadata(&self.file) {
            Ok(m) => Ok(Some((
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                m.len(),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::invalid_argument(format!(
                "toolPins: cannot read {}: {e}",
                self.file.display()
            ))),
        }
    }

    /// Reads the lockfile again when it changed on disk (an `accept` while
    /// the app runs). A flag lifts only for a tool whose pin changed to
    /// what was last seen of it. True when new pins were read.
    fn reload(&mut self) -> Result<bool, Error> {
        let stamp = self.stamp_now()?;
        if stamp == self.stamp || stamp.is_none() {
            return Ok(false);
        }
        self.stamp = stamp;
        let Some(read) = read_lockfile(&self.file)
            .map_err(|e| Error::invalid_argument(format!("toolPins: {e}")))?
        else {
            return Ok(false);
        };
        let before = std::mem::replace(&mut self.pins, read);
        self.first_use = false;
        // What was accepted is no longer pending (this process's copy is
        // what it writes next).
        for name in self.pending.names() {
            let accepted = self.pending.get(&name).map(|p| &p.digest)
                == self.pins.get(&name).map(|p| &p.digest);
            if accepted {
                self.pending.remove(&name);
            }
        }
        let pins = &self.pins;
        let last_seen = &self.last_seen;
        self.flagged.retain(|name, _| {
            let now = pins.get(name).map(|p| &p.digest);
            let accepted = now.is_some() && now != before.get(name).map(|p| &p.digest);
            let matches = last_seen.get(name).is_some_and(|seen| seen.as_ref() == now);
            !(accepted && matches)
        });
        Ok(true)
    }

    /// Opens a listing call (one `listTools()` however it pages, or one raw
    /// `tools/list` request); pass its id to each page and to the end.
    pub fn begin_listing(&mut self) -> u32 {
        let id = self.next_listing;
        self.next_listing = self.next_listing.wrapping_add(1);
        self.listings.insert(id, Listing::default());
        id
    }

    /// Closes a listing. The trust-on-first-use window closes with the
    /// first listing that saw a page.
    pub fn end_listing(&mut self, id: u32) {
        if let Some(listing) = self.listings.remove(&id) {
            if listing.pages > 0 && !listing.unwritten {
                self.first_use = false;
                self.listed = true;
            }
        }
    }

    /// Takes in one page of a listing. Returns the changes to report (the
    /// pending file is updated off this thread). An error: the page cannot
    /// be taken (too many pages, or the lockfile cannot be written).
    pub fn observe_page(
        &mut self,
        id: u32,
        tools: Vec<ListedTool>,
    ) -> Result<Vec<ToolChange>, Error> {
        self.reload()?;
        let mut listing = self.listings.remove(&id).unwrap_or_default();
        listing.pages += 1;
        if listing.pages > MAX_PAGES {
            self.listings.insert(id, listing);
            return Err(Error::invalid_argument(format!(
                "toolPins: the server's tool list took more than {MAX_PAGES} pages in one listing; it was not read further"
            )));
        }
        let mut trusted = Vec::new();
        let mut changes = Vec::new();
        for tool in tools {
            let seen = tool.definition.map(Pin::of);
            let digest = seen.as_ref().map(|p| p.digest.clone());
            let earlier = listing.seen.insert(tool.name.clone(), digest.clone());
            let twice = earlier
                .as_ref()
                .is_some_and(|e| *e != digest || digest.is_none());
            self.last_seen.insert(tool.name.clone(), digest.clone());
            if self.first_use && earlier.is_none() && !self.pins.contains_key(&tool.name) {
                if let Some(pin) = seen {
                    self.pins.insert(tool.name.clone(), pin);
                    trusted.push(tool.name);
                    continue;
                }
            }
            let pinned = self.pins.get(&tool.name).map(|p| p.digest.clone());
            let flag = match (&pinned, twice) {
                (None, _) => Some(Flag::New),
                (Some(_), true) => Some(Flag::Changed),
                (Some(p), false) if Some(p) != digest.as_ref() => Some(Flag::Changed),
                _ => None,
            };
            let Some(flag) = flag else { continue };
            // Sticky: a "changed" is never turned back into "new" or lifted here.
            let flag = match self.flagged.get(&tool.name) {
                Some(Flag::Changed) => Flag::Changed,
                _ => flag,
            };
            self.flagged.insert(tool.name.clone(), flag);
            if self.reported.get(&tool.name) != Some(&(flag, digest.clone())) {
                self.reported
                    .insert(tool.name.clone(), (flag, digest.clone()));
                changes.push(self.change(&tool.name, flag, seen));
            }
        }
        if !trusted.is_empty() {
            if let Err(e) = self.write_trusted(&trusted) {
                listing.unwritten = true;
                self.listings.insert(id, listing);
                return Err(e);
            }
        }
        self.listings.insert(id, listing);
        if !changes.is_empty() {
            self.writer.write(self.pending.text());
        }
        Ok(changes)
    }

    /// Nothing is pinned until it is on disk: the next listing tries again.
    fn write_trusted(&mut self, trusted: &[String]) -> Result<(), Error> {
        let written = write_atomic(&self.file, &lockfile_text(&self.pins));
        if let Err(e) = written {
            for name in trusted {
                self.pins.remove(name);
            }
            return Err(Error::invalid_argument(format!(
                "toolPins: cannot write the lockfile {}: {e}",
                self.file.display()
            )));
        }
        self.stamp = self.stamp_now()?;
        Ok(())
    }

    fn change(&mut self, tool: &str, flag: Flag, seen: Option<Pin>) -> ToolChange {
        let pin = self.pins.get(tool);
        let diff = definition_diff(
            tool,
            pin.and_then(|p| p.definition.as_ref()),
            seen.as_ref().and_then(|s| s.definition.as_ref()),
        );
        let pinned_digest = pin.map(|p| p.digest.clone());
        let seen_digest = seen.as_ref().map(|s| s.digest.clone());
        if let Some(seen) = seen {
            let line = ChangeLine {
                at: crate::clock::iso8601(SystemTime::now()),
                tool: tool.to_owned(),
                kind: flag.kind().to_owned(),
                pinned: pinned_digest.clone(),
                seen: seen.digest.clone(),
            };
            self.pending.add(tool, seen, line);
        }
        let message = format!(
            "tool definition {} ({}); review it with `{cmd} diff {file}`, then run `{cmd} accept {file}`:\n{}",
            if flag == Flag::New { "not pinned" } else { "changed" },
            if self.block { "calls refused" } else { "warning only" },
            diff.join("\n"),
            cmd = self.command,
            file = one_line(&self.file.display().to_string()),
        );
        ToolChange {
            tool: tool.to_owned(),
            kind: flag.kind(),
            pinned_digest,
            seen_digest,
            diff,
            blocked: self.block,
            message,
        }
    }

    /// True until a listing call saw a page: a call must list first, so
    /// that it never skips the check.
    pub fn needs_listing(&self) -> bool {
        !self.listed
    }

    /// Why a call to `tool` may not go on, as a violation (JSON), or None.
    pub fn violation(&mut self, tool: &str) -> Result<Option<Value>, Error> {
        if !self.block {
            return Ok(None);
        }
        let mut flag = self.flag(tool);
        if flag.is_some() && self.reload()? {
            flag = self.flag(tool);
        }
        Ok(flag.map(|f| self.violation_for(Some(tool), f.kind(), None)))
    }

    fn flag(&self, tool: &str) -> Option<Flag> {
        match self.flagged.get(tool) {
            Some(flag) => Some(*flag),
            None if !self.pins.contains_key(tool) => Some(Flag::New),
            None => None,
        }
    }

    /// The violation of a call whose tools could not be listed (block only).
    pub fn unverified(&self, cause: &str) -> Option<Value> {
        self.block
            .then(|| self.violation_for(None, "unverified", Some(cause)))
    }

    fn violation_for(&self, tool: Option<&str>, kind: &str, cause: Option<&str>) -> Value {
        let shown = tool.map(one_line).unwrap_or_default();
        let why = match kind {
            "new" => format!("tool \"{shown}\" is not in the pinned tool definitions"),
            "changed" => format!("the definition of tool \"{shown}\" changed since it was pinned"),
            _ => format!(
                "the tool definitions could not be listed to check them against their pins ({})",
                one_line(cause.unwrap_or(""))
            ),
        };
        let mut v = json!({
            "policyId": PIN_POLICY_ID,
            "policyName": "Pinned tool definitions",
            "policyType": "tool_pins",
            "enforcementMode": "block",
            "severity": "high",
            "message": format!("{why}; review it with `{cmd} diff {file}`, then run `{cmd} accept {file}`",
                cmd = self.command, file = one_line(&self.file.display().to_string())),
            "rule": "definition_changed",
        });
        if let Some(tool) = tool {
            v["tool"] = tool.into();
        }
        v
    }

    /// Waits until the pending file holds every change reported so far.
    pub fn flush_pending(&self) {
        self.writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: &str) -> ListedTool {
        ListedTool {
            name: name.into(),
            definition: Some(json!({"name": name, "description": description})),
        }
    }

    fn open(dir: &std::path::Path) -> ToolPins {
        ToolPins::open(
            dir.join("lock.json"),
            OnToolChange::Block,
            "execlave-pins".into(),
        )
        .unwrap()
    }

    fn list(pins: &mut ToolPins, pages: Vec<Vec<ListedTool>>) -> Vec<ToolChange> {
        let id = pins.begin_listing();
        let mut all = Vec::new();
        for page in pages {
            all.extend(pins.observe_page(id, page).unwrap());
        }
        pins.end_listing(id);
        all
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("execlave-pins-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_changed_definition_stays_flagged_whatever_is_listed_later() {
        let dir = temp();
        let mut pins = open(&dir);
        list(&mut pins, vec![vec![tool("a", "one")]]);
        assert!(pins.violation("a").unwrap().is_none());
        list(
            &mut pins,
            vec![vec![tool("a", "two")], vec![tool("a", "one")]],
        );
        assert!(pins.violation("a").unwrap().is_some());
        list(&mut pins, vec![vec![tool("a", "one")]]);
        assert!(
            pins.violation("a").unwrap().is_some(),
            "listing the pinned one again lifts nothing"
        );
    }

    #[test]
    fn trust_on_first_use_ends_with_the_first_listing_whatever_its_paging() {
        let dir = temp();
        let mut pins = open(&dir);
        let id = pins.begin_listing();
        pins.observe_page(id, vec![tool("a", "one")]).unwrap();
        pins.end_listing(id); // the app read only the first page
        let changes = list(&mut pins, vec![vec![tool("late", "x")]]);
        assert_eq!(changes.len(), 1);
        assert!(pins.violation("late").unwrap().is_some());
    }

    #[test]
    fn one_listing_takes_a_bounded_number_of_pages() {
        let dir = temp();
        let mut pins = open(&dir);
        let id = pins.begin_listing();
        for _ in 0..MAX_PAGES {
            pins.observe_page(id, vec![tool("a", "one")]).unwrap();
        }
        assert!(pins.observe_page(id, vec![tool("a", "one")]).is_err());
    }
}
