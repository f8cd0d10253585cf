//! The agents calls are made for: their identities (see [`crate::agent`]),
//! their kill-switch state, and the registry of (agent, session, user,
//! enforce) handles.

use crate::agent::{is_valid_agent_id, AgentIdentity};
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
