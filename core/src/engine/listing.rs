//! Which tools of a listing the agent could never call: the ones its
//! policies refuse by name alone. A host hides them from the model (an
//! agent that is not shown a tool does not plan around it), and the call
//! is still decided in full if it is made anyway: hiding is a courtesy to
//! the model, never the enforcement.

use super::agents::AgentHandle;
use super::decide::Engine;
use crate::error::Error;
use std::sync::atomic::Ordering::Relaxed;

impl Engine {
    /// For each name, whether a call to that tool is refused whatever its
    /// arguments: a blocking policy denies the name, or an allowlist
    /// leaves it out. False where the name alone does not settle it: an
    /// argument rule applies to the tool, only the control plane could
    /// refuse it, the agent only monitors (`enforce: false`), or the
    /// policies are not known yet (first sync). The agent's pause and the
    /// client's shutdown are not policies: they stop every call for a
    /// while, and a listing that dropped every tool would tell the model
    /// the server has none.
    ///
    /// One call per listing, however long: the names cross once. The
    /// refused ones are counted in `stats.tools_hidden`, as the caller
    /// hides them.
    pub fn refused_by_name(
        &self,
        handle: AgentHandle,
        names: &[String],
    ) -> Result<Vec<bool>, Error> {
        let reg = self
            .agents
            .get(handle)
            .ok_or_else(|| Error::invalid_argument(format!("unknown agent handle {handle}")))?;
        let known = self.connection.is_none() || self.policies.has_policies();
        if !reg.enforce || !known {
            return Ok(vec![false; names.len()]);
        }
        let policies = self.policies.current();
        let identity = reg.state.identity.load();
        let refused: Vec<bool> = names
            .iter()
            .map(|name| {
                policies
                    .evaluate_tool(&identity, name)
                    .is_some_and(|decision| decision.is_blocked())
            })
            .collect();
        let hidden = refused.iter().filter(|&&r| r).count() as u64;
        self.stats.tools_hidden.fetch_add(hidden, Relaxed);
        Ok(refused)
    }
}
