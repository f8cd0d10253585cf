//! The approval service of the test server: scripted approval requests
//! (pending for N polls, then approved, denied or expired) and single-use
//! certificates bound to a digest of the action context the server
//! received at enforce, as the real service seals it.
//!
//! A request some route takes (fault injection: 5xx, silence, garbage) is
//! answered by the route instead.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// How one approval request unfolds.
#[derive(Debug, Clone)]
pub struct ApprovalScript {
    /// Polls answered `pending` first.
    pub pending_polls: u32,
    /// Then: `approved`, `denied` or `expired`.
    pub then: &'static str,
    pub reason: Option<String>,
}

#[derive(Default)]
struct Approval {
    script: Option<ApprovalScript>,
    polls: u32,
    /// SHA-256 of the action context's JSON text, sealed at enforce.
    sealed: Option<[u8; 32]>,
    used: bool,
}

#[derive(Default)]
pub(super) struct Approvals {
    by_id: Mutex<HashMap<String, Approval>>,
}

const ENFORCE: &str = "POST /api/v1/policies/enforce";
const PREFIX: &str = "/api/v1/approvals/";

impl Approvals {
    pub(super) fn script(&self, id: &str, script: ApprovalScript) {
        self.by_id
            .lock()
            .unwrap()
            .entry(id.to_owned())
            .or_default()
            .script = Some(script);
    }

    /// An enforce request answered 202 naming a scripted approval: seal
    /// its action context (the body less its leading `agentId`).
    pub(super) fn saw_enforce(&self, line: &str, body: &[u8], status: u16, reply: &[u8]) {
        if line != ENFORCE || status != 202 {
            return;
        }
        let Some(id) = serde_json::from_slice::<serde_json::Value>(reply)
            .ok()
            .and_then(|v| v.get("approvalRequestId")?.as_str().map(str::to_owned))
        else {
            return;
        };
        let mut all = self.by_id.lock().unwrap();
        // The first enforce naming it seals it: a later call reusing the
        // id is another action.
        if let (Some(a), Some(context)) = (all.get_mut(&id), action_context(body)) {
            a.sealed
                .get_or_insert_with(|| Sha256::digest(context).into());
        }
    }

    /// The reply (status, body) to an approval request, when it is one.
    pub(super) fn answer(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
        let rest = path.strip_prefix(PREFIX)?;
        let mut all = self.by_id.lock().unwrap();
        match (method, rest.split_once('/')) {
            ("GET", None) => {
                let a = all.get_mut(rest)?;
                let script = a.script.clone()?;
                a.polls += 1;
                let status = if a.polls <= script.pending_polls {
                    "pending"
                } else {
                    script.then
                };
                let reason = script
                    .reason
                    .map(|r| format!(",\"decisionReason\":{}", serde_json::json!(r)))
                    .unwrap_or_default();
                Some((
                    200,
                    format!("{{\"data\":{{\"status\":\"{status}\"{reason}}}}}"),
                ))
            }
            ("POST", Some((id, "verify"))) => {
                let a = all.get_mut(id)?;
                let valid = |reason: &str| {
                    let (valid, reason) = if reason.is_empty() {
                        ("true", String::new())
                    } else {
                        ("false", format!(",\"reason\":\"{reason}\""))
                    };
                    Some((200, format!("{{\"data\":{{\"valid\":{valid}{reason}}}}}")))
                };
                let sent = verify_context(body);
                match (&a.sealed, sent) {
                    (None, _) => valid("certificate_unanchored"),
                    (_, None) => valid("action_context_mismatch"),
                    (Some(sealed), Some(sent)) if Sha256::digest(sent)[..] != sealed[..] => {
                        valid("action_context_mismatch")
                    }
                    _ if a.used => valid("certificate_already_used"),
                    _ => {
                        a.used = true;
                        valid("")
                    }
                }
            }
            _ => None,
        }
    }
}

/// The enforce body's text less its leading `"agentId":…,` member: the
/// action context exactly as the SDK must send it back.
fn action_context(body: &[u8]) -> Option<Vec<u8>> {
    let rest = body.strip_prefix(b"{\"agentId\":")?;
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<serde_json::Value>();
    values.next()?.ok()?;
    let after = rest.get(values.byte_offset()..)?.strip_prefix(b",")?;
    let mut context = b"{".to_vec();
    context.extend_from_slice(after);
    Some(context)
}

/// The `actionContext` of a verify body, as its text.
fn verify_context(body: &[u8]) -> Option<&[u8]> {
    body.strip_prefix(b"{\"actionContext\":")?
        .strip_suffix(b"}")
}
