//! The agents' side of the control plane: each agent's internal id (looked
//! up until the control plane answers) and its kill switch, polled every
//! `pollIntervalMs` and at once when a new agent is registered.

use super::schedule::next_wait;
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
        let mut failures = 0;
        loop {
            let changed = self.agents.changed.notified();
            resolve_agents(
                &self.connection,
                &self.agents,
                &self.log,
                &self.progress,
                Lookup::NewOnly,
            )
            .await;
            let answered = self.poll_statuses().await;
            failures = if answered { 0 } else { failures + 1 };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(next_wait(self.interval, failures)) => {}
            }
        }
    }

    /// Polls every known agent's status; false when a poll got no answer.
    async fn poll_statuses(&self) -> bool {
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
            let Some(internal) = state.identity.load().internal.clone() else {
                continue;
            };
            match c.api.agent_status(&internal).await {
                Ok(remote) => {
                    c.answered();
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
                        // A call waiting for an approval stops at a pause.
                        self.progress.notify_waiters();
                    }
                }
                // The last known status stands while the control plane is
                // away; the other agents are polled next round, which comes
                // sooner, rather than each waiting out the same outage.
                Err(e) if e.is_outage() => {
                    c.poll_failed(&e, "kill-switch poll");
                    return false;
                }
                Err(e) => c.poll_failed(&e, "kill-switch poll"),
            }
        }
        true
    }
}

/// Which agents [`resolve_agents`] looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Agents registered since the last lookup (the kill-switch loop, woken
    /// at once by a registration).
    NewOnly,
    /// Also every agent whose internal id is still unknown: not known to
    /// the control plane yet, or its lookup failed. Policy sync retries
    /// them at each refresh, so that an agent created on the control plane
    /// after the SDK started gets its internal-id policies and its kill
    /// switch.
    UntilFound,
}

/// Looks up the internal ids of agents (see [`Lookup`]).
pub async fn resolve_agents(
    c: &Connection,
    agents: &Agents,
    log: &Logger,
    progress: &Notify,
    which: Lookup,
) {
    let unresolved: Vec<(String, Arc<AgentState>)> = agents
        .all()
        .into_iter()
        .filter(|(_, st)| match which {
            Lookup::NewOnly => !st.lookup_answered.load(Ordering::Acquire),
            Lookup::UntilFound => st.identity.load().internal.is_none(),
        })
        .collect();
    let mut unresolved = unresolved.into_iter();
    while let Some((agent_id, state)) = unresolved.next() {
        match c.api.find_agent(&agent_id).await {
            Ok(found) => {
                c.answered();
                if let Some(internal) = found {
                    let mut identity = (**state.identity.load()).clone();
                    identity.internal = Some(internal);
                    state.identity.store(Arc::new(identity));
                } else {
                    log.debug(|| format!("agent {agent_id} is not known to the control plane"));
                }
                state.lookup_answered.store(true, Ordering::Release);
            }
            Err(e) => {
                c.poll_failed(&e, "agent lookup");
                if e.is_outage() {
                    // The rest would wait out the same outage one timeout
                    // each, delaying the policy sync behind them: they are
                    // tried next round, and their first calls need not wait.
                    for (_, rest) in unresolved.by_ref() {
                        rest.resolved.store(true, Ordering::Release);
                    }
                }
            }
        }
        state.resolved.store(true, Ordering::Release);
        progress.notify_waiters();
    }
}
