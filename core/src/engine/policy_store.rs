//! The policy set decisions read, and how a new one is adopted: compiled
//! leniently (a policy that cannot be read leaves the calls it may apply to
//! to the control plane) and published atomically.

use crate::log::Logger;
use crate::policy::{PolicySet, SourcedPolicy};
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
    /// control plane (with a warning). A non-empty list in which nothing is
    /// valid is refused as a whole (`None`), so that garbage can never turn
    /// into an empty set, which allows all.
    pub fn compile(raw: Vec<Value>, from: &str, log: &Logger, stats: &Stats) -> Option<PolicySet> {
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
        if !sourced.is_empty() && errors.len() == sourced.len() {
            log.debug(|| {
                format!("no valid policy in the answer from {from}; keeping the last good set")
            });
            return None;
        }
        log.debug(|| format!("{} policies from {from}", set.len()));
        Some(set)
    }

    /// Makes `set` the one decisions read from now on.
    pub fn publish(&self, set: PolicySet, etag: Option<String>) {
        self.set.store(Arc::new(set));
        *self.etag.lock().unwrap_or_else(|e| e.into_inner()) = etag;
        self.has_policies.store(true, Ordering::Release);
    }
}
