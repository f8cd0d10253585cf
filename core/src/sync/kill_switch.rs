//! The agents' side of the control plane: each agent's internal id (looked
//! up until the control plane answers) and its kill switch, polled every
//! `pollIntervalMs` and at once when a new agent is registered.

use crate::control_plane::Connection;
use crate::engine::agents::{AgentState, AgentStatus, Agents};
use crate::log::Logger;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct KillSwitch {
    pub connection: Arc<Connection>,
    pub agents: Arc<Agents>,
    pub interval: Duration,
    pub log: Arc<Logger>,
    /// Woken when an agent is resolved.
    pub progress: Arc<Notify>,
}

impl KillSwitch {
    pub async fn run(self) {
        loop {
            let changed = self.agents.changed.notified();
            resolve_agents(&self.connection, &self.agents, &self.log, &self.progress).await;
            self.poll_statuses().await;
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    async fn poll_statuses(&self) {
        let c = &*self.connection;
        let agents: Vec<(String, Arc<AgentState>)> = self
            .agents
            .all()
            .into_iter()
            .filter_map(|(id, st)| {
                let internal = st.identity.load().internal.clone()?;
                Some((format!("{id} ({internal})"), st))
            })
            .collect();
        for (label, state) in agents {
            if !c.breaker.allow_request() {
                return;
            }
            let Some(internal) = state.identity.load().internal.clone() else {
                continue;
            };
            match c.api.agent_status(&internal).await {
                Ok(remote) => {
                    c.succeeded();
                    let new = AgentStatus {
                        paused: remote.paused,
                        reason: remote.reason,
                    };
                    if **state.status.load() != new {
                        self.log.debug(|| {
                            format!(
                                "agent {label} is now {}",
                                if new.paused { "paused" } else { "active" }
                            )
                        });
                        state.status.store(Arc::new(new));
                    }
                }
                // The last known status stands while the control plane is away.
                Err(e) => c.failed(&e, "kill-switch poll"),
            }
        }
    }
}

/// Looks up the internal id of every agent not looked up yet.
pub async fn resolve_agents(c: &Connection, agents: &Agents, log: &Logger, progress: &Notify) {
    let unresolved: Vec<(String, Arc<AgentState>)> = agents
        .all()
        .into_iter()
        .filter(|(_, st)| !st.lookup_answered.load(Ordering::Acquire))
        .collect();
    for (agent_id, state) in unresolved {
        if !c.breaker.allow_request() {
            // No answer to wait for: let the first calls go on.
            state.resolved.store(true, Ordering::Release);
            progress.notify_waiters();
            continue;
        }
        match c.api.find_agent(&agent_id).await {
            Ok(found) => {
                c.succeeded();
                if let Some(internal) = found {
                    let mut identity = (**state.identity.load()).clone();
                    identity.internal = Some(internal);
                    state.identity.store(Arc::new(identity));
                } else {
                    log.debug(|| format!("agent {agent_id} is not known to the control plane"));
                }
                state.lookup_answered.store(true, Ordering::Release);
            }
            Err(e) => c.failed(&e, "agent lookup"),
        }
        state.resolved.store(true, Ordering::Release);
        progress.notify_waiters();
    }
}
