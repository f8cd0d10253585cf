//! The outcome of checking one tool call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a call is (or would be) refused. Field names are the wire format of
/// the Execlave API; fields the server adds that we do not know are kept in
/// `extra` so that they reach the user unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    #[serde(default)]
    pub policy_id: String,
    #[serde(default)]
    pub policy_name: String,
    #[serde(default)]
    pub policy_type: String,
    #[serde(default)]
    pub enforcement_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `deny`, `not_allowed` or `argument` for local decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The local engine's verdict on one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Violations of policies in a blocking mode (`block`, `hard_block`).
    /// Non-empty means the call must not go ahead.
    pub violations: Vec<Violation>,
    /// Violations of policies in a non-blocking mode (`warn`, `log_only`,
    /// `monitor`): recorded, the call goes on.
    pub warnings: Vec<Violation>,
    /// Violations of local policies in `require_approval` mode (rule
    /// `approval_required`): the call needs the client's approver.
    pub approvals: Vec<Violation>,
    /// The agent has active policies the local engine does not evaluate
    /// (another `policyType`, or `require_approval`), so a call that passes
    /// here also needs the control plane's decision.
    pub needs_server: bool,
}

impl Decision {
    pub fn is_blocked(&self) -> bool {
        !self.violations.is_empty()
    }

    /// Nothing to report: allowed, no warnings, no server round trip.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
            && self.warnings.is_empty()
            && self.approvals.is_empty()
            && !self.needs_server
    }
}
