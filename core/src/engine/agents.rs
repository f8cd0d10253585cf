//! The agents calls are made for: their identities (see [`crate::agent`]),
//! their kill-switch state, and the registry of (agent, session, user,
//! enforce) handles.
//!
//! Each distinct four a host registers gets one handle, shared by every
//! registration of the same four and counted; the last release frees it
//! and its handle is given out again. A server that wraps one client per
//! session thus holds only its open sessions, and finding or freeing a
//! registration costs one hash lookup however many there are.

use crate::agent::{is_valid_agent_id, AgentIdentity};
use crate::error::Error;
use crate::records::record::{CallContext, Origin};
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

/// The registrations in use, by handle and by what they register.
#[derive(Default)]
struct Registrations {
    /// By handle: the registration and how many times it is held.
    slots: Vec<Option<(Registered, usize)>>,
    /// Freed handles, given out again first.
    free: Vec<AgentHandle>,
    by_key: HashMap<(CallContext, bool), AgentHandle>,
}

#[derive(Default)]
pub struct Agents {
    by_id: Mutex<HashMap<String, Arc<AgentState>>>,
    registered: RwLock<Registrations>,
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
        self.register_from(agent_id, session_id, user_id, enforce, None)
    }

    /// As [`Agents::register`], for calls a proxy makes for a host
    /// (`origin` goes into their records).
    pub fn register_from(
        &self,
        agent_id: &str,
        session_id: Option<&str>,
        user_id: Option<&str>,
        enforce: bool,
        origin: Option<Arc<Origin>>,
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
            origin,
        };
        let mut reg = self.registered.write().unwrap_or_else(|e| e.into_inner());
        let key = (context, enforce);
        if let Some(&handle) = reg.by_key.get(&key) {
            if let Some((_, held)) = reg.slots[handle as usize].as_mut() {
                *held += 1;
            }
            return Ok(handle);
        }
        let registered = Registered {
            state,
            context: key.0.clone(),
            enforce,
        };
        let handle = match reg.free.pop() {
            Some(h) => {
                reg.slots[h as usize] = Some((registered, 1));
                h
            }
            None => {
                reg.slots.push(Some((registered, 1)));
                (reg.slots.len() - 1) as AgentHandle
            }
        };
        reg.by_key.insert(key, handle);
        Ok(handle)
    }

    /// Undoes one [`Agents::register`] of `handle`; the last one frees it.
    /// An unknown or freed handle is ignored, so that a release is never
    /// counted against a handle given out again since.
    pub fn release(&self, handle: AgentHandle) {
        let mut guard = self.registered.write().unwrap_or_else(|e| e.into_inner());
        let reg = &mut *guard;
        let Some(slot) = reg.slots.get_mut(handle as usize) else {
            return;
        };
        let Some((_, held)) = slot.as_mut() else {
            return;
        };
        *held -= 1;
        if *held > 0 {
            return;
        }
        if let Some((r, _)) = slot.take() {
            reg.by_key.remove(&(r.context, r.enforce));
            reg.free.push(handle);
        }
    }

    pub fn get(&self, handle: AgentHandle) -> Option<Registered> {
        let reg = self.registered.read().unwrap_or_else(|e| e.into_inner());
        reg.slots
            .get(handle as usize)?
            .as_ref()
            .map(|(r, _)| r.clone())
    }

    /// Registrations in use.
    pub fn registrations(&self) -> usize {
        self.registered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_key
            .len()
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
    fn the_same_four_share_a_handle_until_the_last_release() {
        let agents = Agents::default();
        let a = agents.register("ops-agent", Some("s"), None, true).unwrap();
        assert_eq!(
            agents.register("ops-agent", Some("s"), None, true).unwrap(),
            a
        );
        let monitor = agents
            .register("ops-agent", Some("s"), None, false)
            .unwrap();
        assert_ne!(monitor, a, "enforce is part of the key");
        assert_eq!(agents.registrations(), 2);
        agents.release(a);
        assert!(agents.get(a).is_some());
        agents.release(a);
        assert!(agents.get(a).is_none());
        agents.release(a); // once more: ignored
        assert_eq!(agents.registrations(), 1);
        assert!(!agents.get(monitor).unwrap().enforce);
    }

    #[test]
    fn many_sessions_in_turn_use_one_handle() {
        let agents = Agents::default();
        for i in 0..10_000 {
            let h = agents
                .register("ops-agent", Some(&format!("session-{i}")), None, true)
                .unwrap();
            assert_eq!(h, 0);
            agents.release(h);
        }
        assert_eq!(agents.registrations(), 0);
    }
}
