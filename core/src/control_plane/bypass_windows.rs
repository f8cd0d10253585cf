//! `POST /api/v1/sdk/bypass-windows`: the platform's audit log of calls
//! that went ahead without a decision (see `crate::bypass`).

use reqwest::Method;

use super::client::ApiClient;
use super::error::ApiError;

impl ApiClient {
    /// Sends one report body (`{"sdk", "sentAt", "windows", "dropped"?}`,
    /// built by `crate::bypass::report`). Any non-2xx is an error; the
    /// caller decides whether to try again.
    pub async fn report_bypass_windows(&self, body: Vec<u8>) -> Result<(), ApiError> {
        let resp = self
            .send(Method::POST, "/api/v1/sdk/bypass-windows", Some(body), None)
            .await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        self.drain(resp).await;
        Ok(())
    }
}
