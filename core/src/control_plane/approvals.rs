//! The approval endpoints (wire format: "The approval flow (202)" of
//! `docs/execlave-api.md`): the state of an approval request, and the
//! verification of its certificate against the action context.
//!
//! Each method is one request; the wait that strings them together is
//! `sync::approval`.

use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::client::{truncate_chars, unwrap_data, ApiClient, COMPONENT};
use super::endpoints::ActionContext;
use super::error::ApiError;

/// Longest reason kept from the server (`decisionReason`, `reason`).
const MAX_REASON_CHARS: usize = 500;

/// The state of an approval request, `GET /api/v1/approvals/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied { reason: Option<String> },
    Expired,
}

/// The answer of `POST /api/v1/approvals/<id>/verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The certificate matches the action: the call may go ahead once.
    Valid,
    /// It does not; the server's reason (`action_context_mismatch`, …).
    Invalid { reason: Option<String> },
}

impl ApiClient {
    /// `GET /api/v1/approvals/<id>`. A status other than the four known is
    /// [`ApiError::Malformed`]: never read as an approval.
    pub async fn approval_state(&self, id: &str) -> Result<ApprovalState, ApiError> {
        let path = format!("/api/v1/approvals/{}", utf8_percent_encode(id, COMPONENT));
        let resp = self.send(Method::GET, &path, None, None).await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        let body = self.read_json(resp).await?;
        let data = unwrap_data(&body, "status")
            .ok_or_else(|| ApiError::Malformed("approval answer is not a JSON object".into()))?;
        match data.get("status").and_then(Value::as_str) {
            Some("pending") => Ok(ApprovalState::Pending),
            Some("approved") => Ok(ApprovalState::Approved),
            Some("expired") => Ok(ApprovalState::Expired),
            Some("denied") => Ok(ApprovalState::Denied {
                reason: self.reason(data.get("decisionReason")),
            }),
            Some(other) => Err(ApiError::Malformed(self.redact(format!(
                "unknown approval status {:?}",
                truncate_chars(other, 64)
            )))),
            None => Err(ApiError::Malformed(
                "approval answer has no \"status\" string".into(),
            )),
        }
    }

    /// `POST /api/v1/approvals/<id>/verify` with `{"actionContext": …}`.
    /// An answer without a boolean `valid` is [`ApiError::Malformed`].
    pub async fn verify_approval(
        &self,
        id: &str,
        context: ActionContext<'_>,
    ) -> Result<Verification, ApiError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            action_context: ActionContext<'a>,
        }
        let body = serde_json::to_vec(&Body {
            action_context: context,
        })
        .map_err(|e| ApiError::Malformed(format!("cannot encode the request: {e}")))?;
        let path = format!(
            "/api/v1/approvals/{}/verify",
            utf8_percent_encode(id, COMPONENT)
        );
        let resp = self.send(Method::POST, &path, Some(body), None).await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        let body = self.read_json(resp).await?;
        let data = unwrap_data(&body, "valid")
            .ok_or_else(|| ApiError::Malformed("verify answer is not a JSON object".into()))?;
        match data.get("valid") {
            Some(Value::Bool(true)) => Ok(Verification::Valid),
            Some(Value::Bool(false)) => Ok(Verification::Invalid {
                reason: self.reason(data.get("reason")),
            }),
            _ => Err(ApiError::Malformed(
                "verify answer has no boolean \"valid\"".into(),
            )),
        }
    }

    fn reason(&self, value: Option<&Value>) -> Option<String> {
        let text = value?.as_str()?;
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Some(self.redact(truncate_chars(clean.trim(), MAX_REASON_CHARS)))
    }
}
