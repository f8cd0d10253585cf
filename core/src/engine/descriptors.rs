//! The tool definitions each agent's wrapped clients listed, as the
//! service's `tool_integrity` policies read them (`toolDescriptors` of an
//! enforce request): kept per agent and server, sent with every enforce
//! request the agent makes. Only hosts with `toolPins` on fill it in.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct ToolDescriptors {
    /// agent id -> server -> descriptors (`{server, tool, descriptorHash,
    /// description?}`), as the server's latest listing had them.
    by_agent: Mutex<HashMap<String, BTreeMap<String, Vec<Value>>>>,
    /// Set once any is kept: agents without pins skip the lock.
    any: AtomicBool,
}

impl ToolDescriptors {
    /// The descriptors of `server`'s listing for `agent_id` (replacing
    /// those of its previous listing).
    pub fn set(&self, agent_id: &str, server: &str, descriptors: Vec<Value>) {
        let mut map = self.by_agent.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(agent_id.to_owned())
            .or_default()
            .insert(server.to_owned(), descriptors);
        self.any.store(true, Ordering::Release);
    }

    /// Everything kept for `agent_id`, servers in name order.
    pub fn for_agent(&self, agent_id: &str) -> Vec<Value> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let map = self.by_agent.lock().unwrap_or_else(|e| e.into_inner());
        map.get(agent_id)
            .map(|servers| servers.values().flatten().cloned().collect())
            .unwrap_or_default()
    }
}
