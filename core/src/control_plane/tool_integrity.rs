//! `POST /api/v1/tool-integrity/agents/<internal id>/baseline`: pins the
//! reviewed set of tool definitions for an agent on the server.

use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{ApiClient, COMPONENT};
use super::error::ApiError;

impl ApiClient {
    /// Sends `descriptors` (`toolDescriptors` items) as the baseline of
    /// the agent with this internal id, with reason `manual`.
    pub async fn report_baseline(
        &self,
        internal_id: &str,
        descriptors: &[Value],
    ) -> Result<(), ApiError> {
        let path = format!(
            "/api/v1/tool-integrity/agents/{}/baseline",
            utf8_percent_encode(internal_id, COMPONENT)
        );
        let body = json!({ "descriptors": descriptors, "reason": "manual" });
        let body = serde_json::to_vec(&body).expect("JSON values serialise");
        let resp = self.send(Method::POST, &path, Some(body), None).await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        self.drain(resp).await;
        Ok(())
    }
}
