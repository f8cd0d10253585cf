//! Background work against the control plane: policy sync, agent id lookup
//! and the kill switch. Each loop holds the governor weakly and ends when the
//! governor is gone or its runtime is shut down.

use crate::control_plane::{ApiError, PolicyList};
use crate::governor::{AgentStatus, Governor, Shared};
use crate::stats::Stats;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Fetches the policies at once, then every `policyRefreshMs`.
pub(crate) async fn policy_sync_loop(shared: Weak<Shared>) {
    loop {
        let Some(g) = Governor::upgrade(&shared) else {
            return;
        };
        // Internal ids first, so that policies scoped by them apply from the
        // first decision on.
        resolve_agents(&g).await;
        sync_policies(&g).await;
        let s = g.shared_ref();
        s.first_sync_done.store(true, Ordering::Release);
        s.progress.notify_waiters();
        let refresh = Duration::from_millis(s.options.policy_refresh_ms.max(10));
        drop(g);
        tokio::time::sleep(refresh).await;
    }
}

async fn sync_policies(g: &Governor) {
    let s = g.shared_ref();
    let Some(api) = &s.api else { return };
    if !s.breaker.allow_request() {
        return;
    }
    let etag = s.etag.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match api.list_policies(etag.as_deref()).await {
        Ok(PolicyList::NotModified) => {
            succeeded(s);
            Stats::bump(&s.stats.policy_syncs);
        }
        Ok(PolicyList::Fresh { policies, etag }) => {
            succeeded(s);
            if g.adopt_policies(policies, etag, "the control plane") {
                Stats::bump(&s.stats.policy_syncs);
            } else {
                Stats::bump(&s.stats.policy_sync_failures);
            }
        }
        Err(e) => failed(s, &e, "policy sync"),
    }
}

/// Looks up the internal id of every agent not looked up yet.
async fn resolve_agents(g: &Governor) {
    let s = g.shared_ref();
    let Some(api) = &s.api else { return };
    let unresolved: Vec<(String, Arc<crate::governor::AgentState>)> = s
        .agents_by_id
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, st)| !st.lookup_answered.load(Ordering::Acquire))
        .map(|(id, st)| (id.clone(), st.clone()))
        .collect();
    for (agent_id, state) in unresolved {
        if !s.breaker.allow_request() {
            // No answer to wait for: let the first calls go on.
            state.resolved.store(true, Ordering::Release);
            s.progress.notify_waiters();
            continue;
        }
        match api.find_agent(&agent_id).await {
            Ok(found) => {
                succeeded(s);
                if let Some(internal) = found {
                    let mut identity = (**state.identity.load()).clone();
                    identity.internal = Some(internal);
                    state.identity.store(Arc::new(identity));
                } else {
                    s.log
                        .debug(|| format!("agent {agent_id} is not known to the control plane"));
                }
                state.lookup_answered.store(true, Ordering::Release);
                state.resolved.store(true, Ordering::Release);
                s.progress.notify_waiters();
            }
            Err(e) => {
                failed(s, &e, "agent lookup");
                state.resolved.store(true, Ordering::Release);
                s.progress.notify_waiters();
            }
        }
    }
}

/// Polls each known agent's status every `pollIntervalMs`, and at once when
/// a new agent is registered.
pub(crate) async fn kill_switch_loop(shared: Weak<Shared>) {
    loop {
        let Some(g) = Governor::upgrade(&shared) else {
            return;
        };
        resolve_agents(&g).await;
        poll_statuses(&g).await;
        let interval = Duration::from_millis(g.shared_ref().options.poll_interval_ms.max(10));
        let wake = g.shared_ref().agents_changed.clone();
        // Drop the strong reference while waiting: a dropped client must not
        // live on through its own poller.
        drop(g);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

async fn poll_statuses(g: &Governor) {
    let s = g.shared_ref();
    let Some(api) = &s.api else { return };
    let agents: Vec<(String, Arc<crate::governor::AgentState>)> = s
        .agents_by_id
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|(id, st)| {
            st.identity
                .load()
                .internal
                .clone()
                .map(|internal| (format!("{id} ({internal})"), st.clone()))
        })
        .collect();
    for (label, state) in agents {
        if !s.breaker.allow_request() {
            return;
        }
        let Some(internal) = state.identity.load().internal.clone() else {
            continue;
        };
        match api.agent_status(&internal).await {
            Ok(remote) => {
                succeeded(s);
                let new = AgentStatus {
                    paused: remote.paused,
                    reason: remote.reason,
                };
                if **state.status.load() != new {
                    s.log.debug(|| {
                        format!(
                            "agent {label} is now {}",
                            if new.paused { "paused" } else { "active" }
                        )
                    });
                    state.status.store(Arc::new(new));
                }
            }
            // The last known status stands while the control plane is away.
            Err(e) => failed(s, &e, "kill-switch poll"),
        }
    }
}

pub(crate) fn succeeded(s: &Shared) {
    s.breaker.record_success();
    s.auth_failed.store(false, Ordering::Release);
}

/// Books a failed request: a rejected key is a configuration error (said
/// once, and every call refused), anything else an outage for the breaker.
pub(crate) fn failed(s: &Shared, e: &ApiError, what: &str) {
    match e {
        ApiError::Auth(_) => {
            s.auth_failed.store(true, Ordering::Release);
            s.log.once("auth-failed", || {
                crate::governor::AUTH_FAILED_MESSAGE.to_string()
            });
        }
        e if e.is_outage() => {
            s.breaker.record_failure();
            if what == "policy sync" {
                Stats::bump(&s.stats.policy_sync_failures);
            }
            s.log.debug(|| format!("{what} failed: {e}"));
        }
        e => {
            if what == "policy sync" {
                Stats::bump(&s.stats.policy_sync_failures);
            }
            s.log.debug(|| format!("{what} failed: {e}"));
        }
    }
}
