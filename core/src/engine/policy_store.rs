//! The policy set decisions read, and how a new one is adopted: compiled
//! leniently (a policy that cannot be read leaves the calls it may apply to
//! to the control plane) and published atomically. Garbage only ever
//! tightens: an answer with nothing readable is added to the last readable
//! set, which stays in force.

use crate::log::Logger;
use crate::policy::{count_unknown_fields, PolicySet, SourcedPolicy};
use crate::stats::Stats;
use arc_swap::ArcSwap;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct PolicyStore {
    set: ArcSwap<PolicySet>,
    etag: Mutex<Option<String>>,
    /// A policy set is held (local, from a sync or from the on-disk cache).
    has_policies: AtomicBool,
    /// The first policy sync finished, well or badly.
    first_sync_done: AtomicBool,
    /// The last set compiled from an answer with a readable policy, and how
    /// many unreadable ones it had: what an answer with nothing readable is
    /// added to.
    last_readable: Mutex<Option<(PolicySet, u64)>>,
}

/// Raw policies compiled leniently, not yet published.
pub struct Compiled {
    set: PolicySet,
    /// How many policies could not be read (the server decides for them).
    unreadable: u64,
    /// The answer held policies and none could be read.
    nothing_readable: bool,
    /// Fields of these policies this SDK does not know (a newer server's):
    /// tolerated from the control plane, counted for `stats()`.
    unknown_fields: u64,
}

impl Compiled {
    /// Whether this answer may stand on its own (on disk, for a restart):
    /// one with nothing readable may not; the last good set stays the one
    /// to restart from.
    pub fn is_readable(&self) -> bool {
        !self.nothing_readable
    }
}

impl PolicyStore {
    /// A store holding `set`; `held`: it counts as a policy set (local
    /// policies), rather than a placeholder until the first sync.
    pub fn new(set: PolicySet, held: bool) -> Self {
        Self {
            set: ArcSwap::from_pointee(set),
            etag: Mutex::new(None),
            has_policies: AtomicBool::new(held),
            first_sync_done: AtomicBool::new(false),
            last_readable: Mutex::new(None),
        }
    }

    pub fn current(&self) -> arc_swap::Guard<Arc<PolicySet>> {
        self.set.load()
    }

    pub fn has_policies(&self) -> bool {
        self.has_policies.load(Ordering::Acquire)
    }

    pub fn first_sync_done(&self) -> bool {
        self.first_sync_done.load(Ordering::Acquire)
    }

    pub fn mark_first_sync_done(&self) {
        self.first_sync_done.store(true, Ordering::Release);
    }

    pub fn etag(&self) -> Option<String> {
        self.etag.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Compiles raw policies from the control plane or its cache: the valid
    /// ones apply; the calls an invalid one may apply to are left to the
    /// control plane. The first unreadable policy is said once, whatever
    /// `debug` says: the user must learn that the server decides for them.
    pub fn compile(raw: Vec<Value>, from: &str, log: &Logger, stats: &Stats) -> Compiled {
        let unknown_fields = count_unknown_fields(&raw);
        let sourced = SourcedPolicy::from_values(raw);
        let (set, errors) = PolicySet::compile_lenient(&sourced);
        for e in &errors {
            log.debug(|| {
                format!(
                    "cannot read a policy from {from} ({e}); \
                     the control plane decides the calls it may apply to"
                )
            });
        }
        stats
            .policy_warnings
            .fetch_add(errors.len() as u64, Ordering::Relaxed);
        let nothing_readable = !sourced.is_empty() && errors.len() == sourced.len();
        if !errors.is_empty() {
            log.once("unreadable-policies", || {
                format!(
                    "{} of {} policies from {from} cannot be read by this SDK version; \
                     the Execlave control plane decides the calls they may apply to{}",
                    errors.len(),
                    sourced.len(),
                    if nothing_readable {
                        " (the last readable policy set, if any, stays in force too)"
                    } else {
                        ""
                    }
                )
            });
        }
        log.debug(|| format!("{} policies from {from}", set.len()));
        Compiled {
            set,
            unreadable: errors.len() as u64,
            nothing_readable,
            unknown_fields,
        }
    }

    /// Makes `compiled` the set decisions read from now on. An answer with
    /// nothing readable is added to the last readable set: both apply, so
    /// that garbage can never loosen what is checked.
    pub fn publish(&self, compiled: Compiled, etag: Option<String>, stats: &Stats) {
        let mut last = self.last_readable.lock().unwrap_or_else(|e| e.into_inner());
        let (set, unreadable) = match (&*last, compiled.nothing_readable) {
            (Some((good, good_unreadable)), true) => (
                good.merged_with(&compiled.set),
                good_unreadable + compiled.unreadable,
            ),
            _ => (compiled.set, compiled.unreadable),
        };
        if !compiled.nothing_readable {
            *last = Some((set.clone(), unreadable));
        }
        self.set.store(Arc::new(set));
        drop(last);
        stats
            .unreadable_policies
            .store(unreadable, Ordering::Relaxed);
        stats
            .unknown_policy_fields
            .store(compiled.unknown_fields, Ordering::Relaxed);
        *self.etag.lock().unwrap_or_else(|e| e.into_inner()) = etag;
        self.has_policies.store(true, Ordering::Release);
    }
}
