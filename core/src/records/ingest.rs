//! Control-plane ingest as a sink: `POST /api/v1/traces/ingest` with
//! retries ([`send_batch`]), and the state that belongs to it alone: the
//! pause after the plan's trace quota is used up (402), and the shared
//! circuit breaker's verdict before each batch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::batch::TraceBatch;
use super::record::CallRecord;
use super::sink::{BatchLimit, RecordSink, SinkFuture, SinkResult};
use crate::control_plane::{backoff, ApiClient, ApiError, Connection};
use crate::log::Logger;

/// How long trace sending pauses after the API says the quota is used up.
const QUOTA_PAUSE: Duration = Duration::from_secs(60);

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
    /// 413: the body is over the control plane's limit; smaller ones may
    /// pass (see [`super::oversized`]).
    TooLarge,
    /// Refused for good (4xx other than 401/402/403/408/413/429): the batch
    /// itself is wrong, drop it. Holds the reason.
    Rejected(String),
    /// 401 / 403: the key is refused (the status it came with).
    AuthFailed(u16),
    /// Outages (network, 5xx, garbage answers, 408/429) on every try: keep
    /// the batch for later. Holds the last error.
    GaveUp(String),
}

/// Sends an ingest body (`{"traces":[…]}`, see
/// [`TraceBatch::ingest_body`]) with
/// `POST /api/v1/traces/ingest`, retrying outages with exponential backoff
/// and full jitter (tokio time, so a paused test clock applies).
pub async fn send_batch(api: &ApiClient, body: &[u8], policy: &RetryPolicy) -> SendResult {
    let attempts = policy.attempts.max(1);
    let mut attempt = 0;
    loop {
        let err = match api.ingest_body(body.to_vec()).await {
            Ok(()) => return SendResult::Delivered,
            Err(ApiError::QuotaExceeded) => return SendResult::QuotaExceeded,
            Err(ApiError::Auth(status)) => return SendResult::AuthFailed(status),
            Err(ApiError::Client(413, _)) => return SendResult::TooLarge,
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

pub struct IngestSink {
    connection: Arc<Connection>,
    retry: RetryPolicy,
    quota_paused_until: Mutex<Option<Instant>>,
    log: Arc<Logger>,
}

impl IngestSink {
    pub fn new(connection: Arc<Connection>, log: Arc<Logger>) -> Self {
        Self {
            connection,
            retry: RetryPolicy::default(),
            quota_paused_until: Mutex::new(None),
            log,
        }
    }

    fn quota_paused(&self) -> bool {
        let mut until = self
            .quota_paused_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    /// Sends the records `picked` (indexes into `traces`); on a 413, each
    /// half on its own, down to single records, and a single record that
    /// does not fit as its stand-in. Done when every part was delivered;
    /// Retry when a part must be (the parts delivered are sent again with
    /// it, under the same trace ids, which the server recognises).
    fn send_fitting<'a>(
        &'a self,
        traces: &'a TraceBatch,
        picked: &'a [usize],
    ) -> futures_util::future::BoxFuture<'a, SinkResult> {
        Box::pin(async move {
            let body = traces.ingest_body(|i| picked.binary_search(&i).is_ok());
            match self.send(body, picked.len(), true).await {
                Some(result) => result,
                None if picked.len() > 1 => {
                    let (a, b) = picked.split_at(picked.len() / 2);
                    let first = self.send_fitting(traces, a).await;
                    let second = self.send_fitting(traces, b).await;
                    combine(first, second)
                }
                None => {
                    let json = traces.json(picked[0]);
                    self.log.debug(|| {
                        format!(
                            "a record of {} bytes is too large for the control plane: \
                             sending a truncated stand-in",
                            json.len()
                        )
                    });
                    let Some(small) = super::oversized::stand_in(json) else {
                        return SinkResult::Refused;
                    };
                    let mut body = Vec::with_capacity(small.len() + 16);
                    body.extend_from_slice(b"{\"traces\":[");
                    body.extend_from_slice(&small);
                    body.extend_from_slice(b"]}");
                    self.send(body, 1, false)
                        .await
                        .unwrap_or(SinkResult::Refused)
                }
            }
        })
    }

    /// One request. `None`: a 413 that `split` allows the caller to
    /// answer by sending less.
    async fn send(&self, body: Vec<u8>, n: usize, split: bool) -> Option<SinkResult> {
        let c = &*self.connection;
        // A dead control plane (open breaker) or a used-up quota: keep the
        // records for a later round rather than hammer the API.
        if self.quota_paused() || !c.breaker.allow_request() {
            return Some(SinkResult::Retry);
        }
        Some(match send_batch(&c.api, &body, &self.retry).await {
            SendResult::Delivered => {
                c.succeeded();
                SinkResult::Done
            }
            SendResult::QuotaExceeded => {
                *self
                    .quota_paused_until
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + QUOTA_PAUSE);
                self.log.once("trace-quota", || {
                    format!(
                        "the Execlave trace quota is used up (HTTP 402): sending paused for {} s, \
                         records stay buffered (oldest dropped when full)",
                        QUOTA_PAUSE.as_secs()
                    )
                });
                SinkResult::Retry
            }
            SendResult::Rejected(why) => {
                self.log
                    .debug(|| format!("the control plane refused {n} records: {why}"));
                SinkResult::Refused
            }
            SendResult::TooLarge if split => return None,
            // Only a lone stand-in gets here (see `send_fitting`): even
            // truncated, the control plane takes no record of it.
            SendResult::TooLarge => {
                self.log.once("record-too-large", || {
                    "the control plane refused a record as too large (HTTP 413) even \
                     truncated; it is counted as dropped"
                        .into()
                });
                SinkResult::Refused
            }
            SendResult::AuthFailed(status) => {
                c.failed(&ApiError::Auth(status), "trace delivery");
                SinkResult::Refused
            }
            SendResult::GaveUp(why) => {
                self.log
                    .debug(|| format!("trace delivery failed, will retry: {why}"));
                SinkResult::Retry
            }
        })
    }
}

impl RecordSink for IngestSink {
    fn name(&self) -> &'static str {
        "control-plane ingest"
    }

    fn batch_limit(&self) -> BatchLimit {
        BatchLimit::Configured
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [CallRecord],
        traces: &'a TraceBatch,
        pick: &'a (dyn Fn(usize) -> bool + Sync),
    ) -> SinkFuture<'a> {
        let picked: Vec<usize> = (0..records.len()).filter(|&i| pick(i)).collect();
        Box::pin(async move { self.send_fitting(traces, &picked).await })
    }
}

/// The result of a batch sent in two parts.
fn combine(a: SinkResult, b: SinkResult) -> SinkResult {
    match (a, b) {
        (SinkResult::Retry, _) | (_, SinkResult::Retry) => SinkResult::Retry,
        (SinkResult::Refused, SinkResult::Refused) => SinkResult::Refused,
        _ => SinkResult::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control_plane::test_server::{Reply, TestServer};
    use crate::control_plane::ApiConfig;
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
            SendResult::AuthFailed(401)
        );
        assert_eq!(
            send_batch(&api, &batch(), &fast()).await,
            SendResult::AuthFailed(403),
            "a 403 is reported as the 403 it is"
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
