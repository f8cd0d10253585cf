//! Policy sync: fetch the policies at once, then every `policyRefreshMs`,
//! conditional on the last ETag; keep the last good set on disk.

use super::kill_switch::{resolve_agents, Lookup};
use super::policy_cache::{self, CachedPolicies};
use super::schedule::next_wait;
use crate::control_plane::{ApiError, Connection, PolicyList};
use crate::engine::agents::Agents;
use crate::engine::policy_store::PolicyStore;
use crate::log::Logger;
use crate::stats::Stats;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What policy sync works on.
pub struct PolicySync {
    pub connection: Arc<Connection>,
    pub store: Arc<PolicyStore>,
    pub agents: Arc<Agents>,
    pub cache_path: Option<PathBuf>,
    pub refresh: Duration,
    pub stats: Arc<Stats>,
    pub log: Arc<Logger>,
    /// Woken when a sync finishes or an agent is resolved.
    pub progress: Arc<Notify>,
}

impl PolicySync {
    pub async fn run(self) {
        let mut failures = 0;
        loop {
            // Internal ids first, so that policies scoped by them apply from
            // the first decision on.
            resolve_agents(
                &self.connection,
                &self.agents,
                &self.log,
                &self.progress,
                Lookup::UntilFound,
            )
            .await;
            let answered = self.sync_once().await;
            self.store.mark_first_sync_done();
            self.progress.notify_waiters();
            failures = if answered { 0 } else { failures + 1 };
            tokio::time::sleep(next_wait(self.refresh, failures)).await;
        }
    }

    /// One sync; false when the control plane gave no answer (an outage:
    /// the next round comes sooner).
    async fn sync_once(&self) -> bool {
        let c = &*self.connection;
        match c.api.list_policies(self.store.etag().as_deref()).await {
            Ok(PolicyList::NotModified) => {
                c.answered();
                Stats::bump(&self.stats.policy_syncs);
                true
            }
            Ok(PolicyList::Fresh { policies, etag }) => {
                c.answered();
                self.adopt(policies, etag, "the control plane");
                Stats::bump(&self.stats.policy_syncs);
                true
            }
            Err(e) => {
                // A rejected key is a configuration error, not a failed sync.
                if !matches!(e, ApiError::Auth(_)) {
                    Stats::bump(&self.stats.policy_sync_failures);
                }
                c.poll_failed(&e, crate::control_plane::connection::POLICY_SYNC);
                !e.is_outage()
            }
        }
    }

    /// Compiles and publishes raw policies.
    pub fn adopt(&self, raw: Vec<Value>, etag: Option<String>, from: &str) {
        adopt(
            &self.store,
            self.cache_path.as_ref(),
            raw,
            etag,
            from,
            &self.log,
            &self.stats,
        )
    }
}

/// Compiles `raw`, writes it to the cache (unless it comes from there, or
/// nothing in it is readable), then publishes it: once a call has been
/// decided on this set, a restart during an outage finds the same set on
/// disk.
pub fn adopt(
    store: &PolicyStore,
    cache_path: Option<&PathBuf>,
    raw: Vec<Value>,
    etag: Option<String>,
    from: &str,
    log: &Logger,
    stats: &Stats,
) {
    let to_cache = cache_path.map(|path| (path, raw.clone()));
    let compiled = PolicyStore::compile(raw, from, log, stats);
    if let (Some((path, policies)), true) = (to_cache, compiled.is_readable()) {
        let cached = CachedPolicies {
            etag: etag.clone(),
            policies,
        };
        if let Err(e) = policy_cache::store(path, &cached) {
            log.once("policy-cache-write", || {
                format!("cannot write the policy cache {}: {e}", path.display())
            });
        }
    }
    store.publish(compiled, etag, stats);
}

/// Adopts the on-disk cache, if there is a readable one.
pub fn adopt_cache(store: &PolicyStore, path: &std::path::Path, log: &Logger, stats: &Stats) {
    if let Some(cached) = policy_cache::load(path) {
        adopt(
            store,
            None,
            cached.policies,
            cached.etag,
            "the policy cache",
            log,
            stats,
        );
    }
}
