//! Who is making a tool call.

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
