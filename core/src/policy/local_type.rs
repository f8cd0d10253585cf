//! Which `policyType` a local policy (file or inline) may have.
//!
//! Only `tool_invocation` is evaluated here. Without a control plane (no
//! API key) nothing at all can evaluate another type, so such a policy
//! would be silently switched off: it is an error. With a control plane, a
//! local policy of another type sends the calls of the agents it applies to
//! to the control plane, which decides them with its own policies; a near
//! miss of `tool_invocation` (`Tool-Invocation`, `tool_invokation`) is still
//! an error, since its allow and deny lists would be read by no one.

use super::compile::TOOL_INVOCATION;
use super::near_miss::closest;

/// Whether a control plane can decide what the local engine cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlPlane {
    /// Local mode: no API key.
    Absent,
    /// An API key is set: server-side types go to the control plane.
    Present,
}

/// Why a local policy may not have `policy_type`; `None` when it may.
pub(crate) fn local_type_problem(policy_type: &str, control_plane: ControlPlane) -> Option<String> {
    if policy_type == TOOL_INVOCATION {
        return None;
    }
    let hint = if looks_like_tool_invocation(policy_type) {
        format!(" (did you mean {TOOL_INVOCATION:?}?)")
    } else {
        String::new()
    };
    match control_plane {
        ControlPlane::Absent => Some(format!(
            "policyType {policy_type:?}{hint} cannot be evaluated locally: only \
             {TOOL_INVOCATION:?} can; server-side policy types need an API key"
        )),
        ControlPlane::Present if !hint.is_empty() => Some(format!(
            "unknown policyType {policy_type:?}{hint}; its rules would not be evaluated"
        )),
        ControlPlane::Present => None,
    }
}

/// `tool_invocation` give or take case, separators and two typed letters.
fn looks_like_tool_invocation(policy_type: &str) -> bool {
    closest(policy_type, &[TOOL_INVOCATION]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_recognised() {
        for t in [
            "tool-invocation",
            "Tool_Invocation",
            "tool invocation",
            "tool_invokation",
            "tool_invocatin",
            "tools_invocations",
            "ToolInvocation",
        ] {
            assert!(looks_like_tool_invocation(t), "{t}");
        }
        for t in [
            "rbac",
            "content_filter",
            "data_access",
            "rate_limit",
            "tool",
            "",
        ] {
            assert!(!looks_like_tool_invocation(t), "{t}");
        }
    }

    #[test]
    fn problems_by_mode() {
        assert_eq!(
            local_type_problem("tool_invocation", ControlPlane::Absent),
            None
        );
        assert_eq!(local_type_problem("rbac", ControlPlane::Present), None);
        let m = local_type_problem("rbac", ControlPlane::Absent).unwrap();
        assert!(
            m.contains("need an API key") && !m.contains("did you mean"),
            "{m}"
        );
        let m = local_type_problem("Tool-Invocation", ControlPlane::Absent).unwrap();
        assert!(m.contains("did you mean") && m.contains("API key"), "{m}");
        let m = local_type_problem("Tool-Invocation", ControlPlane::Present).unwrap();
        assert!(m.contains("did you mean"), "{m}");
    }
}
