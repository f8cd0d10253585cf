//! `execlave-pins diff` and `accept`: what the wrapper saw and did not
//! accept (`<lockfile>.pending`), shown against the lockfile and, after a
//! person's review, written into it. The host's command does the arguments,
//! the prompt and the exit status; this is the part both share.

use super::diff::definition_diff;
use super::lockfile::{lockfile_text, read_lockfile, write_atomic, Pins};
use super::pending::{pending_path, read_pending, Pending};
use crate::log::one_line;
use std::path::Path;

/// The pending changes of one lockfile, ready to show.
pub struct Review {
    pins: Pins,
    pending: Pending,
    /// The tools under review, oldest change first.
    pub names: Vec<String>,
}

impl Review {
    /// Reads both files. A missing lockfile is an error (there is nothing
    /// to compare with); `only` limits the review to those tools, each of
    /// which must have a pending change.
    pub fn open(lockfile: &Path, only: &[String]) -> Result<Self, String> {
        let pins = read_lockfile(lockfile)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no lockfile at {}: check the path (the wrapper writes it at the first listing)", one_line(&lockfile.display().to_string())))?;
        let pending = read_pending(lockfile).map_err(|e| e.to_string())?;
        // An entry already pinned as seen (accepted by another run) is not a change.
        let mut names = pending.names();
        names.retain(|n| pending.get(n).map(|p| &p.digest) != pins.get(n).map(|p| &p.digest));
        if !only.is_empty() {
            if let Some(missing) = only.iter().find(|n| pending.get(n).is_none()) {
                return Err(format!(
                    "no pending change for tool \"{}\"",
                    one_line(missing)
                ));
            }
            names.retain(|n| only.contains(n));
        }
        Ok(Self {
            pins,
            pending,
            names,
        })
    }

    /// The diff of every tool under review, escaped, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for name in &self.names {
            let before = self.pins.get(name).and_then(|p| p.definition.as_ref());
            let after = self.pending.get(name).and_then(|p| p.definition.as_ref());
            lines.extend(definition_diff(name, before, after));
        }
        lines
    }

    /// The names under review, escaped, for the confirmation prompt.
    pub fn shown_names(&self) -> Vec<String> {
        self.names
            .iter()
            .map(|n| one_line(n).into_owned())
            .collect()
    }

    /// Pins every tool under review, and removes them from the pending
    /// file (the file goes when it is empty).
    pub fn accept(mut self, lockfile: &Path) -> Result<usize, String> {
        for name in &self.names {
            if let Some(pin) = self.pending.remove(name) {
                self.pins.insert(name.clone(), pin);
            }
        }
        let shown = one_line(&lockfile.display().to_string()).into_owned();
        write_atomic(lockfile, &lockfile_text(&self.pins))
            .map_err(|e| format!("cannot write {shown}: {e}"))?;
        let pending = pending_path(lockfile);
        let done = if self.pending.is_empty() {
            std::fs::remove_file(&pending).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
        } else {
            write_atomic(&pending, &self.pending.text())
        };
        done.map_err(|e| format!("cannot update {shown}.pending: {e}"))?;
        Ok(self.names.len())
    }
}
