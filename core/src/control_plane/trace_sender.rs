//! Sends one batch of trace payloads with retries.

use std::time::Duration;

use super::api::ApiClient;
use super::backoff;
use super::error::ApiError;

/// How hard [`send_batch`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (0 is taken as 1). Default 3, as in
    /// the official SDK.
    pub attempts: u32,
    /// Backoff base: the wait before retry n is up to `base * 2^n`.
    pub base: Duration,
    /// Longest wait between two tries.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// Accepted (2xx).
    Delivered,
    /// 402: the plan's trace quota is used up. Retrying will not help until
    /// the quota resets; the caller decides whether to keep the batch.
    QuotaExceeded,
    /// Refused for good (4xx other than 401/402/403/408/429): the batch
    /// itself is wrong, drop it. Holds the reason.
    Rejected(String),
    /// 401 / 403: the key is refused.
    AuthFailed,
    /// Outages (network, 5xx, garbage answers, 408/429) on every try: keep
    /// the batch for later. Holds the last error.
    GaveUp(String),
}

/// Sends an ingest body (`{"traces":[…]}`, see
/// [`crate::trace_batch::TraceBatch::ingest_body`]) with
/// `POST /api/v1/traces/ingest`, retrying outages with exponential backoff
/// and full jitter (tokio time, so a paused test clock applies).
pub async fn send_batch(api: &ApiClient, body: &[u8], policy: &RetryPolicy) -> SendResult {
    let attempts = policy.attempts.max(1);
    let mut attempt = 0;
    loop {
        let err = match api.ingest_body(body.to_vec()).await {
            Ok(()) => return SendResult::Delivered,
            Err(ApiError::QuotaExceeded) => return SendResult::QuotaExceeded,
            Err(ApiError::Auth(_)) => return SendResult::AuthFailed,
            Err(e) if !e.is_retryable() => return SendResult::Rejected(e.to_string()),
            Err(e) => e,
        };
        attempt += 1;
        if attempt >= attempts {
            return SendResult::GaveUp(err.to_string());
        }
        tokio::time::sleep(backoff::delay(attempt - 1, policy.base, policy.max)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::api::ApiConfig;
    use super::super::test_server::{Reply, TestServer};
    use super::*;
    use serde_json::json;

    const KEY: &str = "exe_test_sender_SECRET_5d1e";

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(2),
            max: Duration::from_millis(10),
        }
    }

    fn client(base: &str) -> ApiClient {
        let mut cfg = ApiConfig::new(base, KEY);
        cfg.request_timeout = Duration::from_secs(5);
        ApiClient::new(cfg).unwrap()
    }

    fn batch() -> Vec<u8> {
        json!({"traces": [{"traceId": "t1", "spanType": "tool"}]})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn default_policy() {
        let p = RetryPolicy::default();
        assert_eq!(p.attempts, 3);
        assert_eq!(p.base, Duration::from_millis(500));
        assert!(p.max >= p.base);
    }

    #[tokio::test]
    async fn delivers_first_time() {
        let server = TestServer::start(vec![Reply::json(202, "{}")]).await;
        let api = client(&server.base_url);
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::Delivered
        );
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn retries_a_503_then_delivers() {
        let server = TestServer::start(vec![Reply::status(503), Reply::json(200, "{}")]).await;
        let api = client(&server.base_url);
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::Delivered
        );
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].body, reqs[1].body, "the same batch again");
    }

    #[tokio::test]
    async fn retries_garbage_and_rate_limits() {
        let server = TestServer::start(vec![
            Reply::status(429),
            Reply::status(301),
            Reply::json(200, "{}"),
        ])
        .await;
        let api = client(&server.base_url);
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::Delivered
        );
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts() {
        let server = TestServer::start(vec![Reply::status(500)]).await;
        let api = client(&server.base_url);
        let result = send_batch(&api, &batch(), &fast()).await;
        assert!(
            matches!(&result, SendResult::GaveUp(m) if m.contains("500")),
            "{result:?}"
        );
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn gives_up_on_a_dead_port() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let api = client(&base);
        let result = send_batch(&api, &batch(), &fast()).await;
        let SendResult::GaveUp(msg) = result else {
            panic!("{result:?}")
        };
        assert!(!msg.contains(KEY));
    }

    #[tokio::test]
    async fn does_not_retry_answers() {
        let server = TestServer::start(vec![
            Reply::json(400, r#"{"error":{"message":"traces must be an array"}}"#),
            Reply::json(402, r#"{"error":{"message":"quota"}}"#),
            Reply::status(401),
            Reply::status(403),
        ])
        .await;
        let api = client(&server.base_url);
        let result = send_batch(&api, &batch(), &fast()).await;
        assert!(
            matches!(&result, SendResult::Rejected(m) if m.contains("traces must be an array")),
            "{result:?}"
        );
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::QuotaExceeded
        );
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::AuthFailed
        );
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::AuthFailed
        );
        assert_eq!(server.requests().len(), 4, "one request each");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_uses_tokio_time() {
        // With the clock paused, long backoffs pass instantly: proves the
        // sleeps are tokio's. A dead port fails without I/O waits.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let api = client(&base);
        let policy = RetryPolicy {
            attempts: 4,
            base: Duration::from_secs(3600),
            max: Duration::from_secs(3600),
        };
        let started = std::time::Instant::now();
        let result = send_batch(&api, &batch(), &policy).await;
        assert!(matches!(result, SendResult::GaveUp(_)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
