//! Who is making a tool call: the agents' identities, their kill-switch
//! state, and the registry of (agent, session, user, enforce) handles.

use crate::error::Error;
use crate::records::record::CallContext;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::Notify;

/// Index of a registered (agent, session, user, enforce) handle.
pub type AgentHandle = u32;

/// An agent as policies may name it: by its external id (`ops-agent`, what
/// users write) or by the internal id the control plane assigns to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentIdentity {
    pub external: String,
    pub internal: Option<String>,
}

impl AgentIdentity {
    pub fn new(external: impl Into<String>) -> Self {
        Self {
            external: external.into(),
            internal: None,
        }
    }

    /// True when `id` names this agent, by either of its ids.
    pub fn is(&self, id: &str) -> bool {
        self.external == id || self.internal.as_deref() == Some(id)
    }
}

/// External agent ids are lowercase kebab-case: `ops-agent`, `agent2`.
pub fn is_valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What the kill switch says about an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStatus {
    pub paused: bool,
    pub reason: Option<String>,
}

/// One agent, shared by every handle that names it.
pub struct AgentState {
    pub identity: ArcSwap<AgentIdentity>,
    pub status: ArcSwap<AgentStatus>,
    /// A lookup of this agent's internal id has finished, well or badly:
    /// the first call waits for it (bounded), so that policies scoped by
    /// internal id apply from the start when the control plane is up.
    pub resolved: AtomicBool,
    /// The control plane answered the lookup (found or not); until it has,
    /// the lookup is tried again.
    pub lookup_answered: AtomicBool,
    pub registered_at: Instant,
}

/// A registered handle: who calls are made for.
#[derive(Clone)]
pub struct Registered {
    pub state: Arc<AgentState>,
    pub context: CallContext,
    /// `false`: monitor only. Policy violations become warnings; the kill
    /// switch still stops calls (it is an operator's explicit order).
    pub enforce: bool,
}

#[derive(Default)]
pub struct Agents {
    by_id: Mutex<HashMap<String, Arc<AgentState>>>,
    registered: RwLock<Vec<Registered>>,
    /// Woken when an agent is registered, so its id and status are looked
    /// up at once.
    pub changed: Notify,
}

impl Agents {
    /// Registers who calls are made for; the handle is what decisions take.
    pub fn register(
        &self,
        agent_id: &str,
        session_id: Option<&str>,
        user_id: Option<&str>,
        enforce: bool,
    ) -> Result<AgentHandle, Error> {
        if !is_valid_agent_id(agent_id) {
            return Err(Error::invalid_argument(format!(
                "agentId must be lowercase kebab-case such as \"ops-agent\", not {agent_id:?}"
            )));
        }
        let state = self
            .by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(agent_id.to_string())
            .or_insert_with(|| {
                Arc::new(AgentState {
                    identity: ArcSwap::from_pointee(AgentIdentity::new(agent_id)),
                    status: ArcSwap::from_pointee(AgentStatus::default()),
                    resolved: AtomicBool::new(false),
                    lookup_answered: AtomicBool::new(false),
                    registered_at: Instant::now(),
                })
            })
            .clone();
        if !state.resolved.load(Ordering::Acquire) {
            self.changed.notify_one();
        }
        let context = CallContext {
            agent_id: agent_id.into(),
            session_id: session_id.map(Into::into),
            user_id: user_id.map(Into::into),
        };
        let mut reg = self.registered.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = reg
            .iter()
            .position(|r| r.context == context && r.enforce == enforce)
        {
            return Ok(i as AgentHandle);
        }
        reg.push(Registered {
            state,
            context,
            enforce,
        });
        Ok((reg.len() - 1) as AgentHandle)
    }

    pub fn get(&self, handle: AgentHandle) -> Option<Registered> {
        let reg = self.registered.read().unwrap_or_else(|e| e.into_inner());
        reg.get(handle as usize).cloned()
    }

    /// Every agent seen, by external id.
    pub fn all(&self) -> Vec<(String, Arc<AgentState>)> {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, st)| (id.clone(), st.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_ids() {
        for ok in ["ops-agent", "a", "agent2", "a-b-c"] {
            assert!(is_valid_agent_id(ok), "{ok}");
        }
        for bad in [
            "",
            "Ops",
            "ops_agent",
            "-ops",
            "ops-",
            "ops--agent",
            "ops agent",
            "ops.agent",
        ] {
            assert!(!is_valid_agent_id(bad), "{bad}");
        }
    }

    #[test]
    fn identity_matches_either_id() {
        let mut a = AgentIdentity::new("ops-agent");
        assert!(a.is("ops-agent"));
        assert!(!a.is("agt_123"));
        a.internal = Some("agt_123".into());
        assert!(a.is("agt_123"));
    }
}
