//! Counters a host can show to its users (`exe.stats()`).

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Stats {
    pub decisions: AtomicU64,
    pub allowed: AtomicU64,
    pub blocked: AtomicU64,
    pub warned: AtomicU64,
    pub records_written: AtomicU64,
    pub records_dropped: AtomicU64,
    /// Records still buffered (or calls still open) when `shutdown` gave up
    /// on them: never delivered, and said on stderr.
    pub records_undelivered: AtomicU64,
    pub policy_warnings: AtomicU64,
    pub bypassed: AtomicU64,
    pub remote_decisions: AtomicU64,
    pub policy_syncs: AtomicU64,
    pub policy_sync_failures: AtomicU64,
    /// Policies of the set in force this SDK cannot read (the server
    /// decides the calls they may apply to); a gauge, not a counter.
    pub unreadable_policies: AtomicU64,
    /// Fields of the control plane's latest policies this SDK does not
    /// know (tolerated there; an error in local policies); a gauge.
    pub unknown_policy_fields: AtomicU64,
    /// Tools left out of listings because policies refuse them by name.
    pub tools_hidden: AtomicU64,
    /// Calls waiting for an approval now (a gauge).
    pub approvals_waiting: AtomicU64,
    pub approvals_granted: AtomicU64,
    pub approvals_refused: AtomicU64,
    /// Bypass windows the control plane accepted.
    pub bypass_windows_sent: AtomicU64,
    /// Bypass windows never reported: over the bound, refused, or still
    /// unsent at shutdown.
    pub bypass_windows_dropped: AtomicU64,
}

/// A point-in-time copy of [`Stats`], serialised with the names users see.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    pub decisions: u64,
    pub allowed: u64,
    pub blocked: u64,
    pub warned: u64,
    pub records_written: u64,
    pub records_dropped: u64,
    pub records_undelivered: u64,
    pub policy_warnings: u64,
    pub bypassed: u64,
    pub remote_decisions: u64,
    pub policy_syncs: u64,
    pub policy_sync_failures: u64,
    pub unreadable_policies: u64,
    pub unknown_policy_fields: u64,
    /// Registrations in use (see `Agents`): a gauge the governor fills in.
    pub registrations: u64,
    pub tools_hidden: u64,
    pub approvals_waiting: u64,
    pub approvals_granted: u64,
    pub approvals_refused: u64,
    pub bypass_windows_sent: u64,
    pub bypass_windows_dropped: u64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            decisions: self.decisions.load(Relaxed),
            allowed: self.allowed.load(Relaxed),
            blocked: self.blocked.load(Relaxed),
            warned: self.warned.load(Relaxed),
            records_written: self.records_written.load(Relaxed),
            records_dropped: self.records_dropped.load(Relaxed),
            records_undelivered: self.records_undelivered.load(Relaxed),
            policy_warnings: self.policy_warnings.load(Relaxed),
            bypassed: self.bypassed.load(Relaxed),
            remote_decisions: self.remote_decisions.load(Relaxed),
            policy_syncs: self.policy_syncs.load(Relaxed),
            policy_sync_failures: self.policy_sync_failures.load(Relaxed),
            unreadable_policies: self.unreadable_policies.load(Relaxed),
            unknown_policy_fields: self.unknown_policy_fields.load(Relaxed),
            registrations: 0,
            tools_hidden: self.tools_hidden.load(Relaxed),
            approvals_waiting: self.approvals_waiting.load(Relaxed),
            approvals_granted: self.approvals_granted.load(Relaxed),
            approvals_refused: self.approvals_refused.load(Relaxed),
            bypass_windows_sent: self.bypass_windows_sent.load(Relaxed),
            bypass_windows_dropped: self.bypass_windows_dropped.load(Relaxed),
        }
    }
}
