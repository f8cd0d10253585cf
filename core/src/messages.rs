//! Every message a user reads about a refused call, built here and nowhere
//! else: bindings take them from the outcome (see
//! [`Outcome::message`](crate::engine::Outcome::message)) rather than
//! build their own, so every host says the same thing.

use crate::decision::Violation;

/// `blocked by policy: tool "x" is denied by policy "P"; …`
pub fn blocked(violations: &[Violation]) -> String {
    let parts: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
    format!("blocked by policy: {}", parts.join("; "))
}

/// `agent ops-agent is paused: incident 42` (an empty reason says nothing).
pub fn paused(agent_id: &str, reason: Option<&str>) -> String {
    match reason.filter(|r| !r.is_empty()) {
        Some(r) => format!("agent {agent_id} is paused: {r}"),
        None => format!("agent {agent_id} is paused"),
    }
}

/// What the host tells the caller when no decision could be had.
pub fn unavailable(reason: &str) -> String {
    format!("enforcement unavailable: {reason}")
}

/// What every refused call says while the control plane rejects the key,
/// naming the status it answered with.
pub fn auth_failed(status: u16) -> String {
    format!(
        "the Execlave API rejected the API key (HTTP {status}): \
         check EXECLAVE_API_KEY; calls are refused until it is fixed"
    )
}

/// The once-per-client warning of the first call let through unchecked
/// (`enforcementOnOutage: "fail_open"`), shown even without `debug`.
pub fn first_bypass(tool: &str, reason: &str) -> String {
    format!(
        "enforcement bypassed for tool {tool:?}: {reason}. enforcementOnOutage is \
         \"fail_open\", so calls go through unchecked while Execlave cannot decide \
         (set it to \"fail_closed\" to refuse them); said once, stats().bypassed counts them"
    )
}

/// The once-per-client warning of the first failed policy sync.
pub fn first_sync_failed(error: &dyn std::fmt::Display) -> String {
    format!(
        "policy sync failed: {error}; retrying in the background (said once, \
         stats().policySyncFailures counts them)"
    )
}

pub const CLOSED: &str = "this Execlave client has been shut down; the call was not sent";

/// The reason of a call refused while no policy set is held yet.
pub const NO_POLICIES_YET: &str = "no policy set yet: the Execlave control plane has not answered";

/// The reason of a call that needs the server's part in local mode.
pub const SERVER_ONLY_IN_LOCAL_MODE: &str =
    "the agent has policies only the Execlave control plane can evaluate, \
     and no API key is set (local mode)";

/// The record of a call that was never completed.
pub const NEVER_COMPLETED: &str = "the call never completed (too many calls in flight)";

/// The record of a call still open when the client shut down.
pub const OPEN_AT_SHUTDOWN: &str =
    "the call was still open at shutdown: it was sent, its outcome is unknown";

/// The record of a call whose answer said `isError: true`.
pub const ANSWERED_IS_ERROR: &str = "tool returned isError: true";

/// A call whose caller cancelled it while it waited for its decision (an
/// approval, or the control plane).
pub const CANCELLED: &str =
    "the caller cancelled the call while it waited for its decision; the call was not sent";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_names_the_reason_only_when_there_is_one() {
        assert_eq!(paused("a", None), "agent a is paused");
        assert_eq!(paused("a", Some("")), "agent a is paused");
        assert_eq!(paused("a", Some("incident")), "agent a is paused: incident");
    }

    #[test]
    fn auth_failed_names_the_status() {
        assert!(auth_failed(403).contains("HTTP 403"));
        assert!(auth_failed(401).contains("HTTP 401"));
    }
}
