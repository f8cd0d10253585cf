//! The HTTP client of the Execlave control-plane API (wire format:
//! `docs/execlave-api.md` of the shared docs).
//!
//! One [`ApiClient`] per configuration; it is cheap to share behind an `Arc`
//! (the connection pool lives inside). Every method is one HTTP request: no
//! retries, no caching, no circuit breaking here; callers compose those from
//! [`CircuitBreaker`](super::CircuitBreaker) and
//! [`send_batch`](super::send_batch).

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::endpoints::{EnforceAnswer, EnforceRequest, PolicyList, RemoteAgentStatus};
use super::error::ApiError;
use crate::decision::Violation;

/// The hosted control plane.
pub const DEFAULT_BASE_URL: &str = "https://api.execlave.com";
/// Our product token, sent as `User-Agent` unless the config names another.
pub const DEFAULT_USER_AGENT: &str = concat!("execlave-rust-core/", env!("CARGO_PKG_VERSION"));
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Hard cap on a response body: a bigger (or endless) body is abandoned
/// after this many bytes and reported as [`ApiError::Malformed`].
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Error bodies are only read for their message: a smaller cap.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Longest server error message kept in [`ApiError::Client`].
const MAX_ERROR_MESSAGE_CHARS: usize = 500;

const HEADER_TIMESTAMP: &str = "x-execlave-timestamp";
const HEADER_SIGNATURE: &str = "x-execlave-signature";
const REDACTED: &str = "[redacted]";

/// Characters left as they are in a path segment or query value: RFC 3986
/// unreserved. Everything else is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How to reach the control plane.
#[derive(Clone)]
pub struct ApiConfig {
    /// `https://…`, or `http://` to a loopback host. A trailing `/` is
    /// ignored. A path prefix (`https://proxy.example/execlave`) is kept.
    pub base_url: String,
    pub api_key: String,
    /// Add `X-Execlave-Timestamp` / `X-Execlave-Signature` to every request.
    pub sign_requests: bool,
    /// Whole-request limit: connect, send, and read the full answer.
    pub request_timeout: Duration,
    /// Sent as `User-Agent`; empty means [`DEFAULT_USER_AGENT`].
    pub user_agent: String,
}

impl ApiConfig {
    /// A config with the defaults: no signing, [`DEFAULT_REQUEST_TIMEOUT`],
    /// [`DEFAULT_USER_AGENT`].
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        ApiConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            sign_requests: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            user_agent: DEFAULT_USER_AGENT.to_string(),
        }
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &REDACTED)
            .field("sign_requests", &self.sign_requests)
            .field("request_timeout", &self.request_timeout)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// The HTTP client of the control plane.
pub struct ApiClient {
    http: reqwest::Client,
    /// Normalized, without trailing `/`.
    base_url: String,
    api_key: String,
    sign_requests: bool,
    request_timeout: Duration,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.base_url)
            .field("api_key", &REDACTED)
            .field("sign_requests", &self.sign_requests)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// A checked base URL.
struct BaseUrl {
    /// Normalized, without trailing `/`.
    url: String,
    loopback: bool,
}

fn check_base_url(raw: &str) -> Result<BaseUrl, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the control-plane base URL is empty".into());
    }
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| format!("the control-plane base URL is not a valid URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the control-plane base URL must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the control-plane base URL must not have a query or a fragment".into());
    }
    // The URL parser has already normalized the host: lower-case names,
    // canonical IPv4 (`127.1` is `127.0.0.1`), IPv6 in brackets.
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("the control-plane base URL has no host".into());
    };
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "refusing the control-plane base URL http://{}: plain http would send the API key \
                 unencrypted; use https:// (http:// is only allowed to localhost, 127.0.0.0/8 or [::1])",
                host
            ))
        }
        other => {
            return Err(format!(
                "the control-plane base URL must start with https:// (got {other}://)"
            ))
        }
    }
    Ok(BaseUrl {
        url: url.as_str().trim_end_matches('/').to_string(),
        loopback,
    })
}

/// `sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`
pub(crate) fn signature(api_key: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The object that carries the answer: the body itself, or its `data` when
/// the body is wrapped as `{"data": {...}}` and `key` is not at the top.
fn unwrap_data<'a>(body: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    let obj = body.as_object()?;
    if obj.contains_key(key) {
        return Some(obj);
    }
    match obj.get("data") {
        Some(Value::Object(inner)) => Some(inner),
        _ => Some(obj),
    }
}

/// Violations from a JSON array, leniently: elements that are not objects
/// are skipped; an object whose fields have the wrong types keeps its
/// `message` (when it is a string) and loses the rest.
fn violations_from(value: Option<&Value>) -> Vec<Violation> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|v| v.is_object())
        .map(|v| {
            serde_json::from_value::<Violation>(v.clone()).unwrap_or_else(|_| Violation {
                message: v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("policy violation (details unreadable)")
                    .to_string(),
                ..Violation::default()
            })
        })
        .collect()
}

fn generic_block() -> Violation {
    Violation {
        enforcement_mode: "block".into(),
        message: "blocked by the Execlave control plane (no violation details given)".into(),
        ..Violation::default()
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

impl ApiClient {
    /// Checks the config and builds the client. Refuses a base URL that is
    /// not `https://` (unless its host is loopback), an empty key, and a key
    /// or user agent that cannot be an HTTP header. Error messages never
    /// contain the key.
    pub fn new(cfg: ApiConfig) -> Result<ApiClient, String> {
        let key = cfg.api_key.trim().to_string();
        let redact = |s: String| redact_key(s, &key);
        if key.is_empty() {
            return Err("the API key is empty: set apiKey or EXECLAVE_API_KEY".into());
        }
        let base = check_base_url(&cfg.base_url).map_err(redact)?;
        if cfg.request_timeout.is_zero() {
            return Err("the request timeout must be greater than zero".into());
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| "the API key contains characters not allowed in an HTTP header")?;
        auth.set_sensitive(true);
        let user_agent = if cfg.user_agent.trim().is_empty() {
            DEFAULT_USER_AGENT.to_string()
        } else {
            cfg.user_agent.clone()
        };
        let user_agent = HeaderValue::from_str(&user_agent)
            .map_err(|_| "the user agent contains characters not allowed in an HTTP header")?;

        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(user_agent)
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout)
            // The API does not redirect; following one could carry the key
            // somewhere else (or to plain http).
            .redirect(reqwest::redirect::Policy::none());
        if base.loopback {
            // A proxy from the environment has no business in a loopback
            // connection.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| redact(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base_url: base.url,
            api_key: key,
            sign_requests: cfg.sign_requests,
            request_timeout: cfg.request_timeout,
        })
    }

    /// The normalized base URL (no trailing `/`); tests check it.
    #[cfg(test)]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /api/v1/policies`, conditional on `etag` when given.
    pub async fn list_policies(&self, etag: Option<&str>) -> Result<PolicyList, ApiError> {
        // An ETag that cannot be a header value is not sent: a full fetch.
        let conditional = etag
            .and_then(|t| HeaderValue::from_str(t).ok())
            .map(|v| (IF_NONE_MATCH, v));
        let sent_etag = conditional.is_some();
        let resp = self
            .send(Method::GET, "/api/v1/policies", None, conditional)
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return if sent_etag {
                Ok(PolicyList::NotModified)
            } else {
                Err(ApiError::Malformed(
                    "304 Not Modified to a request without If-None-Match".into(),
                ))
            };
        }
        if !status.is_success() {
            return Err(self.error_for(resp).await);
        }
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = self.read_json(resp).await?;
        match body {
            Value::Object(mut obj) => match obj.remove("data") {
                Some(Value::Array(policies)) => Ok(PolicyList::Fresh { policies, etag }),
                _ => Err(ApiError::Malformed(
                    "policies answer has no \"data\" array".into(),
                )),
            },
            _ => Err(ApiError::Malformed(
                "policies answer is not a JSON object".into(),
            )),
        }
    }

    /// `GET /api/v1/agents?search=<agent_id>`: the internal id of the agent
    /// whose `agentId` is exactly `agent_id` (the search is fuzzy), or
    /// `None` when there is none.
    pub async fn find_agent(&self, agent_id: &str) -> Result<Option<String>, ApiError> {
        let path = format!(
            "/api/v1/agents?search={}",
            utf8_percent_encode(agent_id, COMPONENT)
        );
        let resp = self.send(Method::GET, &path, None, None).await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        let body = self.read_json(resp).await?;
        let Some(Value::Array(agents)) = body.get("data") else {
            return Err(ApiError::Malformed(
                "agents answer has no \"data\" array".into(),
            ));
        };
        for agent in agents {
            if agent.get("agentId").and_then(Value::as_str) != Some(agent_id) {
                continue;
            }
            return match agent.get("id") {
                Some(Value::String(id)) if !id.is_empty() => Ok(Some(id.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                _ => Err(ApiError::Malformed(
                    "the matching agent has no usable \"id\"".into(),
                )),
            };
        }
        Ok(None)
    }

    /// `GET /api/v1/agents/<internal_id>/status-poll`: the kill switch.
    pub async fn agent_status(&self, internal_id: &str) -> Result<RemoteAgentStatus, ApiError> {
        let path = format!(
            "/api/v1/agents/{}/status-poll",
            utf8_percent_encode(internal_id, COMPONENT)
        );
        let resp = self.send(Method::GET, &path, None, None).await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        let body = self.read_json(resp).await?;
        let Some(Value::Object(data)) = body.get("data") else {
            return Err(ApiError::Malformed(
                "status answer has no \"data\" object".into(),
            ));
        };
        let paused = match data.get("status") {
            Some(Value::String(s)) if s == "active" => false,
            Some(Value::String(s)) if s == "paused" => true,
            Some(Value::String(s)) => {
                return Err(ApiError::Malformed(self.redact(format!(
                    "unknown agent status {:?}",
                    truncate_chars(s, 64)
                ))))
            }
            _ => {
                return Err(ApiError::Malformed(
                    "status answer has no \"status\" string".into(),
                ))
            }
        };
        let reason = data
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(RemoteAgentStatus { paused, reason })
    }

    /// `POST /api/v1/policies/enforce`: the server's decision on one call.
    ///
    /// A 403 whose body says `"allowed": false` is a block; any other 403 is
    /// [`ApiError::Auth`] (never an outage, so a fail-open caller does not
    /// let a 403 through). 5xx, network errors and an unreadable 2xx are
    /// outages.
    pub async fn enforce(&self, request: &EnforceRequest) -> Result<EnforceAnswer, ApiError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| ApiError::Malformed(format!("cannot encode the request: {e}")))?;
        let resp = self
            .send(Method::POST, "/api/v1/policies/enforce", Some(body), None)
            .await?;
        let status = resp.status();
        match status.as_u16() {
            202 => {
                // The status is the answer; the id is a bonus.
                let body = self.read_json(resp).await.unwrap_or(Value::Null);
                let approval_request_id = unwrap_data(&body, "approvalRequestId")
                    .and_then(|o| o.get("approvalRequestId"))
                    .and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                Ok(EnforceAnswer::ApprovalRequired {
                    approval_request_id,
                })
            }
            200..=299 => {
                let body = self.read_json(resp).await?;
                let obj = unwrap_data(&body, "allowed").ok_or_else(|| {
                    ApiError::Malformed("enforce answer is not a JSON object".into())
                })?;
                match obj.get("allowed") {
                    Some(Value::Bool(true)) => Ok(EnforceAnswer::Allowed {
                        warnings: violations_from(obj.get("warnings")),
                    }),
                    Some(Value::Bool(false)) => Ok(Self::blocked(obj)),
                    _ => Err(ApiError::Malformed(
                        "enforce answer has no boolean \"allowed\"".into(),
                    )),
                }
            }
            403 => {
                let body = self
                    .read_json_capped(resp, MAX_BODY_BYTES)
                    .await
                    .unwrap_or(Value::Null);
                match unwrap_data(&body, "allowed") {
                    Some(obj) if obj.get("allowed") == Some(&Value::Bool(false)) => {
                        Ok(Self::blocked(obj))
                    }
                    _ => Err(ApiError::Auth(403)),
                }
            }
            402 => {
                let body = self
                    .read_json_capped(resp, MAX_ERROR_BODY_BYTES)
                    .await
                    .unwrap_or(Value::Null);
                let err = body
                    .get("error")
                    .or_else(|| body.get("data").and_then(|d| d.get("error")))
                    .and_then(Value::as_object);
                let field = |k: &str| err.and_then(|e| e.get(k));
                Ok(EnforceAnswer::PlanLimit {
                    message: field("message")
                        .and_then(Value::as_str)
                        .map(|m| self.redact(truncate_chars(m, MAX_ERROR_MESSAGE_CHARS)))
                        .unwrap_or_else(|| "plan limit reached".to_string()),
                    resource: field("resource")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    current: field("current").and_then(Value::as_f64),
                    max: field("max").and_then(Value::as_f64),
                })
            }
            _ => Err(self.error_for(resp).await),
        }
    }

    fn blocked(obj: &Map<String, Value>) -> EnforceAnswer {
        let mut violations = violations_from(obj.get("violations"));
        if violations.is_empty() {
            violations.push(generic_block());
        }
        EnforceAnswer::Blocked { violations }
    }

    /// `POST /api/v1/traces/ingest` with a body already encoded
    /// (`{"traces":[…]}`, as [`crate::trace_batch::TraceBatch`] builds it).
    /// 402 is [`ApiError::QuotaExceeded`].
    pub async fn ingest_body(&self, body: Vec<u8>) -> Result<(), ApiError> {
        let resp = self
            .send(Method::POST, "/api/v1/traces/ingest", Some(body), None)
            .await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        self.drain(resp).await;
        Ok(())
    }

    /// `GET /health`: the simplest request, which the tests use to probe
    /// the plumbing (headers, signing, errors). The SDK has no use for it.
    #[cfg(test)]
    pub async fn health(&self) -> Result<(), ApiError> {
        let resp = self.send(Method::GET, "/health", None, None).await?;
        if !resp.status().is_success() {
            return Err(self.error_for(resp).await);
        }
        self.drain(resp).await;
        Ok(())
    }

    // ---- plumbing ----

    /// Sends one request: JSON body (if any), signing headers (if enabled).
    /// Answers of any status come back; only transport failures are errors.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Response, ApiError> {
        let url = format!("{}{}", self.base_url, path);
        let mut req = self.http.request(method, url);
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        if self.sign_requests {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let sig = signature(&self.api_key, timestamp, body.as_deref().unwrap_or(b""));
            req = req
                .header(HEADER_TIMESTAMP, timestamp.to_string())
                .header(HEADER_SIGNATURE, sig);
        }
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body);
        }
        req.send().await.map_err(|e| self.transport_error(&e))
    }

    /// The error for a non-success answer (other than those an endpoint
    /// handles itself).
    async fn error_for(&self, resp: Response) -> ApiError {
        let status = resp.status().as_u16();
        match status {
            401 | 403 => ApiError::Auth(status),
            402 => ApiError::QuotaExceeded,
            400..=499 => ApiError::Client(status, self.error_message(resp).await),
            500..=599 => ApiError::Server(status),
            _ => ApiError::Malformed(format!("unexpected HTTP status {status}")),
        }
    }

    /// `error.message` of an error body, bounded and without the key; empty
    /// when there is none.
    async fn error_message(&self, resp: Response) -> String {
        let Ok(body) = self.read_json_capped(resp, MAX_ERROR_BODY_BYTES).await else {
            return String::new();
        };
        let message = body
            .get("error")
            .and_then(|e| e.get("message"))
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let clean: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.redact(truncate_chars(clean.trim(), MAX_ERROR_MESSAGE_CHARS))
    }

    async fn read_json(&self, resp: Response) -> Result<Value, ApiError> {
        self.read_json_capped(resp, MAX_BODY_BYTES).await
    }

    async fn read_json_capped(&self, resp: Response, cap: usize) -> Result<Value, ApiError> {
        let bytes = self.read_capped(resp, cap).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Malformed(format!("the answer is not valid JSON ({e})")))
    }

    /// The body, at most `cap` bytes: a larger declared length is refused
    /// before reading, a longer stream is abandoned as soon as it passes the
    /// cap.
    async fn read_capped(&self, mut resp: Response, cap: usize) -> Result<Vec<u8>, ApiError> {
        let declared = resp.content_length();
        if let Some(len) = declared {
            if len > cap as u64 {
                return Err(ApiError::Malformed(format!(
                    "the answer declares {len} bytes, over the {cap}-byte limit"
                )));
            }
        }
        let mut buf = Vec::with_capacity(declared.map_or(0, |l| l as usize).min(64 * 1024));
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(&e))? {
            if buf.len() + chunk.len() > cap {
                return Err(ApiError::Malformed(format!(
                    "the answer is over the {cap}-byte limit"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }

    /// Reads (and drops) a small success body so that the connection can be
    /// reused; a big or broken one is just dropped.
    async fn drain(&self, resp: Response) {
        let _ = self.read_capped(resp, MAX_ERROR_BODY_BYTES).await;
    }

    fn transport_error(&self, e: &reqwest::Error) -> ApiError {
        let what = if e.is_timeout() {
            format!("timed out after {} ms", self.request_timeout.as_millis())
        } else if e.is_connect() {
            "could not connect".to_string()
        } else if e.is_body() || e.is_decode() {
            "the connection failed while reading the answer".to_string()
        } else {
            "the request failed".to_string()
        };
        // The cause chain, without reqwest's own line (which repeats the
        // URL) and without repeats.
        let mut parts: Vec<String> = Vec::new();
        let mut source = std::error::Error::source(e);
        while let Some(err) = source {
            let text = err.to_string();
            if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            source = err.source();
        }
        let detail = if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(": "))
        };
        ApiError::Network(self.redact(format!("{what}{detail}")))
    }

    fn redact(&self, s: String) -> String {
        redact_key(s, &self.api_key)
    }
}

fn redact_key(s: String, key: &str) -> String {
    if !key.is_empty() && s.contains(key) {
        s.replace(key, REDACTED)
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::endpoints::{enforce_input, MAX_ENFORCE_INPUT_CHARS};
    use super::super::test_server::{Reply, TestServer};
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    fn ingest_body(traces: Value) -> Vec<u8> {
        json!({ "traces": traces }).to_string().into_bytes()
    }

    const KEY: &str = "exe_test_k3y_SHOULD_NEVER_LEAK_91c2";

    fn config(base: &str) -> ApiConfig {
        let mut cfg = ApiConfig::new(base, KEY);
        cfg.request_timeout = Duration::from_secs(5);
        cfg
    }

    fn client(server: &TestServer) -> ApiClient {
        ApiClient::new(config(&server.base_url)).unwrap()
    }

    /// A port on which nothing listens.
    async fn dead_base_url() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    }

    fn assert_no_key(text: &str) {
        assert!(!text.contains(KEY), "the key leaked into: {text}");
        assert!(
            !text.contains("SHOULD_NEVER_LEAK"),
            "the key leaked into: {text}"
        );
    }

    #[tokio::test]
    async fn sends_auth_accept_and_user_agent() {
        let server = TestServer::start(vec![Reply::json(200, r#"{"status":"ok"}"#)]).await;
        client(&server).health().await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/health");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(r.header("accept"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some(DEFAULT_USER_AGENT));
        assert!(DEFAULT_USER_AGENT.starts_with("execlave-rust-core/"));
        assert_eq!(r.header("x-execlave-signature"), None);
        assert_eq!(r.header("x-execlave-timestamp"), None);
    }

    #[tokio::test]
    async fn custom_user_agent_is_sent() {
        let server = TestServer::start(vec![Reply::json(200, "{}")]).await;
        let mut cfg = config(&server.base_url);
        cfg.user_agent = "execlave-node/1.2.3 execlave-rust-core/0.1.0".into();
        ApiClient::new(cfg).unwrap().health().await.unwrap();
        assert_eq!(
            server.requests()[0].header("user-agent"),
            Some("execlave-node/1.2.3 execlave-rust-core/0.1.0")
        );
    }

    #[tokio::test]
    async fn signs_requests_with_hmac_of_timestamp_and_body() {
        let server = TestServer::start(vec![Reply::json(200, "{}")]).await;
        let mut cfg = config(&server.base_url);
        cfg.sign_requests = true;
        let api = ApiClient::new(cfg).unwrap();
        api.health().await.unwrap();
        api.ingest_body(ingest_body(json!([{"traceId": "t1", "status": "success"}])))
            .await
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            let ts = r.header("x-execlave-timestamp").expect("timestamp header");
            let ts_num: u64 = ts.parse().expect("unix seconds");
            assert!(now.abs_diff(ts_num) <= 5);
            let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
            mac.update(format!("{ts}.").as_bytes());
            mac.update(&r.body);
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(r.header("x-execlave-signature"), Some(expected.as_str()));
        }
        assert!(reqs[0].body.is_empty(), "GET signs the empty body");
        assert_eq!(reqs[1].header("content-type"), Some("application/json"));
        let sent: Value = serde_json::from_slice(&reqs[1].body).unwrap();
        assert_eq!(
            sent,
            json!({"traces": [{"traceId": "t1", "status": "success"}]})
        );
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog")
        // is the RFC-style example; here the message is "<ts>.<body>".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature("key", 1_700_000_000, b"{}"), expected);
        assert_eq!(
            signature("key", 0, b"").len(),
            "sha256=".len() + 64,
            "hex of 32 bytes"
        );
    }

    #[test]
    fn base_url_rules() {
        let refused = [
            "http://example.com",
            "http://api.execlave.com/",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "ftp://localhost",
            "not a url",
            "",
            "https://user:pass@api.execlave.com",
            "https://api.execlave.com?x=1",
        ];
        for url in refused {
            let err = ApiClient::new(config(url)).expect_err(url);
            assert_no_key(&err);
        }
        let err = ApiClient::new(config("http://example.com")).unwrap_err();
        assert!(err.contains("https://"), "{err}");
        assert!(err.contains("unencrypted"), "{err}");

        let allowed = [
            ("http://127.0.0.1", "http://127.0.0.1"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://127.1.2.3:9", "http://127.1.2.3:9"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://LOCALHOST", "http://localhost"),
            ("http://[::1]:4000", "http://[::1]:4000"),
            ("https://anything.example", "https://anything.example"),
            ("https://api.execlave.com/", "https://api.execlave.com"),
            (
                "https://proxy.example/execlave//",
                "https://proxy.example/execlave",
            ),
        ];
        for (url, normalized) in allowed {
            let api = ApiClient::new(config(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(api.base_url(), normalized);
        }
    }

    #[test]
    fn config_checks_do_not_leak_the_key() {
        let mut cfg = config("https://api.execlave.com");
        cfg.api_key = "   ".into();
        assert!(ApiClient::new(cfg)
            .unwrap_err()
            .contains("API key is empty"));

        let mut cfg = config("https://api.execlave.com");
        cfg.api_key = format!("{KEY}\n");
        // Surrounding whitespace is trimmed.
        assert!(ApiClient::new(cfg).is_ok());

        let mut cfg = config("https://api.execlave.com");
        cfg.api_key = format!("{KEY}\nX-Evil: 1");
        let err = ApiClient::new(cfg).unwrap_err();
        assert_no_key(&err);

        let mut cfg = config("https://api.execlave.com");
        cfg.request_timeout = Duration::ZERO;
        assert!(ApiClient::new(cfg).is_err());

        // The key in the base URL by mistake is not echoed either.
        let err = ApiClient::new(config(&format!("http://{KEY}.example.com"))).unwrap_err();
        assert_no_key(&err);

        let api = ApiClient::new(config("https://api.execlave.com")).unwrap();
        assert_no_key(&format!("{api:?}"));
        assert_no_key(&format!("{:?}", config("https://api.execlave.com")));
    }

    #[tokio::test]
    async fn trailing_slash_and_path_prefix() {
        let server = TestServer::start(vec![Reply::json(200, r#"{"data":[]}"#)]).await;
        let api = ApiClient::new(config(&format!("{}/", server.base_url))).unwrap();
        api.health().await.unwrap();
        let api = ApiClient::new(config(&format!("{}/prefix/", server.base_url))).unwrap();
        api.list_policies(None).await.unwrap();
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/health", "/prefix/api/v1/policies"]);
    }

    #[tokio::test]
    async fn policies_with_etag_then_304() {
        let server = TestServer::start(vec![
            Reply::json(
                200,
                r#"{"data":[{"id":"p1","name":"a"}, 7, "junk"],"meta":{"total":3}}"#,
            )
            .with_header("ETag", "\"v1\""),
            Reply::status(304).with_header("ETag", "\"v1\""),
        ])
        .await;
        let api = client(&server);
        let first = api.list_policies(None).await.unwrap();
        assert_eq!(
            first,
            PolicyList::Fresh {
                policies: vec![json!({"id":"p1","name":"a"}), json!(7), json!("junk")],
                etag: Some("\"v1\"".into()),
            }
        );
        let second = api.list_policies(Some("\"v1\"")).await.unwrap();
        assert_eq!(second, PolicyList::NotModified);
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/api/v1/policies");
        assert_eq!(reqs[0].header("if-none-match"), None);
        assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));
    }

    #[tokio::test]
    async fn policies_without_etag_and_wrong_shapes() {
        let server = TestServer::start(vec![
            Reply::json(200, r#"{"data":[]}"#),
            Reply::json(200, r#"{"policies":[]}"#),
            Reply::json(200, r#"{"data":{}}"#),
            Reply::json(200, r#"[]"#),
            Reply::json(200, r#"{"data":[1,2"#),
            Reply::json(200, "<html>oops</html>"),
            Reply::status(304),
        ])
        .await;
        let api = client(&server);
        assert_eq!(
            api.list_policies(None).await.unwrap(),
            PolicyList::Fresh {
                policies: vec![],
                etag: None
            }
        );
        for _ in 0..5 {
            let err = api.list_policies(None).await.unwrap_err();
            assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
            assert!(err.is_outage());
        }
        // 304 to an unconditional request is not a usable answer.
        assert!(matches!(
            api.list_policies(None).await,
            Err(ApiError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn find_agent_picks_the_exact_match_among_fuzzy_results() {
        let server = TestServer::start(vec![
            Reply::json(
                200,
                r#"{"data":[
                    {"id":"i-1","agentId":"ops-agent-2","name":"x"},
                    "junk",
                    {"id":"i-2","agentId":"ops-agent","name":"y"},
                    {"id":"i-3","agentId":"ops-agent","name":"dup"}
                ],"meta":{"total":3}}"#,
            ),
            Reply::json(200, r#"{"data":[{"id":"i-1","agentId":"ops-agent-2"}]}"#),
            Reply::json(200, r#"{"data":[{"agentId":"ops agent/1&x=y"}]}"#),
            Reply::json(200, r#"{"agents":[]}"#),
        ])
        .await;
        let api = client(&server);
        assert_eq!(
            api.find_agent("ops-agent").await.unwrap(),
            Some("i-2".to_string())
        );
        assert_eq!(api.find_agent("ops-agent").await.unwrap(), None);
        assert!(matches!(
            api.find_agent("ops agent/1&x=y").await,
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            api.find_agent("a").await,
            Err(ApiError::Malformed(_))
        ));
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/api/v1/agents?search=ops-agent");
        assert_eq!(
            reqs[2].path,
            "/api/v1/agents?search=ops%20agent%2F1%26x%3Dy"
        );
    }

    #[tokio::test]
    async fn agent_status_parsing() {
        let server = TestServer::start(vec![
            Reply::json(200, r#"{"data":{"status":"active"}}"#),
            Reply::json(
                200,
                r#"{"data":{"status":"paused","reason":"incident 42"}}"#,
            ),
            Reply::json(200, r#"{"data":{"status":"paused","reason":null}}"#),
            Reply::json(200, r#"{"data":{"status":"sleeping"}}"#),
            Reply::json(200, r#"{"data":{}}"#),
            Reply::json(200, r#"{"status":"active"}"#),
        ])
        .await;
        let api = client(&server);
        assert_eq!(
            api.agent_status("a/b c").await.unwrap(),
            RemoteAgentStatus {
                paused: false,
                reason: None
            }
        );
        assert_eq!(
            api.agent_status("i-2").await.unwrap(),
            RemoteAgentStatus {
                paused: true,
                reason: Some("incident 42".into())
            }
        );
        assert_eq!(
            api.agent_status("i-2").await.unwrap(),
            RemoteAgentStatus {
                paused: true,
                reason: None
            }
        );
        for _ in 0..3 {
            assert!(matches!(
                api.agent_status("i-2").await,
                Err(ApiError::Malformed(_))
            ));
        }
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/api/v1/agents/a%2Fb%20c/status-poll");
        assert_eq!(reqs[1].path, "/api/v1/agents/i-2/status-poll");
    }

    fn request() -> EnforceRequest {
        EnforceRequest::for_tool_call(
            "ops-agent",
            "production",
            "delete_file",
            json!({"path": "/etc/passwd"}),
        )
    }

    #[tokio::test]
    async fn enforce_sends_the_wire_format() {
        let server = TestServer::start(vec![Reply::json(200, r#"{"allowed":true}"#)]).await;
        client(&server).enforce(&request()).await.unwrap();
        let r = &server.requests()[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/v1/policies/enforce");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            sent,
            json!({
                "agentId": "ops-agent",
                "input": r#"{"path":"/etc/passwd"}"#,
                "environment": "production",
                "tools": ["delete_file"],
                "metadata": {"toolArguments": {"path": "/etc/passwd"}}
            })
        );
    }

    #[test]
    fn enforce_input_is_bounded() {
        assert_eq!(enforce_input("t", &Value::Null), "tool:t");
        assert_eq!(enforce_input("t", &json!({})), "tool:t");
        assert_eq!(enforce_input("t", &json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(enforce_input("t", &json!("plain")), "plain");
        let long = enforce_input("t", &json!({"a": "é".repeat(5000)}));
        assert_eq!(long.chars().count(), MAX_ENFORCE_INPUT_CHARS);
    }

    #[tokio::test]
    async fn enforce_answers() {
        let violation = r#"{"policyId":"p1","policyName":"No deletes","policyType":"tool_restriction",
                            "message":"deletes are not allowed","enforcementMode":"block","ruleId":"r9"}"#;
        let server = TestServer::start(vec![
            Reply::json(200, r#"{"allowed":true}"#),
            Reply::json(
                200,
                &format!(r#"{{"allowed":true,"warnings":[{violation}, 3]}}"#),
            ),
            Reply::json(200, r#"{"data":{"allowed":true,"warnings":null}}"#),
            Reply::json(403, &format!(r#"{{"allowed":false,"violations":[{violation}]}}"#)),
            Reply::json(403, r#"{"error":{"code":"FORBIDDEN","message":"bad key"}}"#),
            Reply::status(403),
            Reply::json(403, r#"{"allowed":false,"violations":[]}"#),
            Reply::json(202, r#"{"approvalRequestId":"apr_1"}"#),
            Reply::status(202),
            Reply::json(
                402,
                r#"{"error":{"code":"PLAN_LIMIT","resource":"enforcements","current":1000,"max":1000,"message":"Monthly enforcement limit reached"}}"#,
            ),
            Reply::status(402),
            Reply::json(500, r#"{"error":{"message":"boom"}}"#),
            Reply::json(503, ""),
            Reply::json(401, r#"{"error":{"message":"invalid key"}}"#),
            Reply::json(200, r#"{"ok":true}"#),
            Reply::json(200, "not json"),
            Reply::json(422, r#"{"error":{"code":"VALIDATION","message":"agentId is required"}}"#),
        ])
        .await;
        let api = client(&server);
        let req = request();

        assert_eq!(
            api.enforce(&req).await.unwrap(),
            EnforceAnswer::Allowed { warnings: vec![] }
        );
        let EnforceAnswer::Allowed { warnings } = api.enforce(&req).await.unwrap() else {
            panic!("allowed with warnings")
        };
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].policy_id, "p1");
        assert_eq!(warnings[0].policy_name, "No deletes");
        assert_eq!(warnings[0].enforcement_mode, "block");
        assert_eq!(warnings[0].extra.get("ruleId"), Some(&json!("r9")));
        assert_eq!(
            api.enforce(&req).await.unwrap(),
            EnforceAnswer::Allowed { warnings: vec![] },
            "wrapped in data"
        );

        let EnforceAnswer::Blocked { violations } = api.enforce(&req).await.unwrap() else {
            panic!("blocked")
        };
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].message, "deletes are not allowed");
        assert_eq!(violations[0].policy_type, "tool_restriction");

        let err = api.enforce(&req).await.unwrap_err();
        assert_eq!(err, ApiError::Auth(403));
        assert!(!err.is_outage());
        assert_eq!(api.enforce(&req).await.unwrap_err(), ApiError::Auth(403));

        let EnforceAnswer::Blocked { violations } = api.enforce(&req).await.unwrap() else {
            panic!("blocked without details")
        };
        assert_eq!(violations.len(), 1, "never an empty block");

        assert_eq!(
            api.enforce(&req).await.unwrap(),
            EnforceAnswer::ApprovalRequired {
                approval_request_id: Some("apr_1".into())
            }
        );
        assert_eq!(
            api.enforce(&req).await.unwrap(),
            EnforceAnswer::ApprovalRequired {
                approval_request_id: None
            }
        );
        assert_eq!(
            api.enforce(&req).await.unwrap(),
            EnforceAnswer::PlanLimit {
                message: "Monthly enforcement limit reached".into(),
                resource: Some("enforcements".into()),
                current: Some(1000.0),
                max: Some(1000.0),
            }
        );
        let EnforceAnswer::PlanLimit { message, .. } = api.enforce(&req).await.unwrap() else {
            panic!("plan limit without body")
        };
        assert!(!message.is_empty());

        let err = api.enforce(&req).await.unwrap_err();
        assert_eq!(err, ApiError::Server(500));
        assert!(err.is_outage());
        assert_eq!(api.enforce(&req).await.unwrap_err(), ApiError::Server(503));
        assert_eq!(api.enforce(&req).await.unwrap_err(), ApiError::Auth(401));
        assert!(matches!(
            api.enforce(&req).await,
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            api.enforce(&req).await,
            Err(ApiError::Malformed(_))
        ));
        assert_eq!(
            api.enforce(&req).await.unwrap_err(),
            ApiError::Client(422, "agentId is required".into())
        );
    }

    #[tokio::test]
    async fn auth_and_server_errors_on_reads() {
        let server = TestServer::start(vec![
            Reply::json(
                401,
                r#"{"error":{"code":"UNAUTHORIZED","message":"Invalid API key"}}"#,
            ),
            Reply::json(403, r#"{"error":{"message":"forbidden"}}"#),
            Reply::status(502),
            Reply::json(
                404,
                r#"{"error":{"code":"NOT_FOUND","message":"Agent not found"}}"#,
            ),
            Reply::json(429, "slow down"),
            Reply::status(301).with_header("Location", "http://example.com/"),
        ])
        .await;
        let api = client(&server);
        assert_eq!(api.list_policies(None).await, Err(ApiError::Auth(401)));
        assert_eq!(api.find_agent("a").await, Err(ApiError::Auth(403)));
        assert_eq!(api.agent_status("x").await, Err(ApiError::Server(502)));
        assert_eq!(
            api.agent_status("x").await,
            Err(ApiError::Client(404, "Agent not found".into()))
        );
        let err = api.health().await.unwrap_err();
        assert_eq!(err, ApiError::Client(429, String::new()));
        assert!(err.is_outage());
        // Redirects are not followed.
        assert!(matches!(api.health().await, Err(ApiError::Malformed(_))));
        assert_eq!(server.requests().len(), 6);
    }

    #[tokio::test]
    async fn endless_body_is_cut_at_the_cap() {
        let server = TestServer::start(vec![Reply::endless()]).await;
        let api = client(&server);
        let err = api.list_policies(None).await.unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
        assert!(err.to_string().contains("limit"), "{err}");
        // Give the server a moment to notice the closed connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let streamed = server.streamed_bytes();
        assert!(
            streamed < super::super::test_server::ENDLESS_LIMIT,
            "the client read everything ({streamed} bytes)"
        );
    }

    #[tokio::test]
    async fn declared_large_body_is_refused_without_reading() {
        let server = TestServer::start(vec![Reply::declared_length(10 * 1024 * 1024)]).await;
        let api = client(&server);
        let started = Instant::now();
        let err = api.list_policies(None).await.unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn connection_refused_is_network() {
        let api = ApiClient::new(config(&dead_base_url().await)).unwrap();
        let err = api.health().await.unwrap_err();
        assert!(matches!(err, ApiError::Network(_)), "{err:?}");
        assert!(err.is_outage());
        assert_no_key(&err.to_string());
        assert_no_key(&format!("{err:?}"));
    }

    #[tokio::test]
    async fn silent_server_is_network_after_the_timeout() {
        let server = TestServer::start(vec![Reply::silent()]).await;
        let mut cfg = config(&server.base_url);
        cfg.request_timeout = Duration::from_millis(300);
        let api = ApiClient::new(cfg).unwrap();
        let started = Instant::now();
        let err = api.enforce(&request()).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, ApiError::Network(_)), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }

    #[tokio::test]
    async fn ingest_answers() {
        let server = TestServer::start(vec![
            Reply::json(202, r#"{"data":{"accepted":2}}"#),
            Reply::status(204),
            Reply::json(402, r#"{"error":{"message":"Trace quota exceeded"}}"#),
            Reply::json(
                400,
                r#"{"error":{"code":"VALIDATION","message":"traces[0].traceId is required"}}"#,
            ),
            Reply::status(503),
        ])
        .await;
        let api = client(&server);
        let traces = json!([{"traceId": "a"}, {"traceId": "b"}]);
        api.ingest_body(ingest_body(traces.clone())).await.unwrap();
        api.ingest_body(ingest_body(traces.clone())).await.unwrap();
        assert_eq!(
            api.ingest_body(ingest_body(traces.clone())).await,
            Err(ApiError::QuotaExceeded)
        );
        assert_eq!(
            api.ingest_body(ingest_body(traces.clone())).await,
            Err(ApiError::Client(
                400,
                "traces[0].traceId is required".into()
            ))
        );
        assert_eq!(
            api.ingest_body(ingest_body(traces.clone())).await,
            Err(ApiError::Server(503))
        );
        let r = &server.requests()[0];
        assert_eq!(r.path, "/api/v1/traces/ingest");
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap(),
            json!({"traces": traces})
        );
    }

    #[tokio::test]
    async fn the_key_never_appears_in_errors() {
        let echo = format!(r#"{{"error":{{"message":"Invalid API key: Bearer {KEY}"}}}}"#);
        let server = TestServer::start(vec![
            Reply::json(400, &echo),
            Reply::json(401, &echo),
            Reply::json(403, &echo),
            Reply::json(500, &echo),
            Reply::json(200, &format!(r#"{{"data":{{"status":"{KEY}"}}}}"#)),
            Reply::json(402, &format!(r#"{{"error":{{"message":"{KEY}"}}}}"#)),
            Reply::json(200, &format!("not json {KEY}")),
            Reply::json(404, &echo),
        ])
        .await;
        let api = client(&server);
        let mut texts: Vec<String> = Vec::new();
        fn record(texts: &mut Vec<String>, e: ApiError) {
            texts.push(e.to_string());
            texts.push(format!("{e:?}"));
        }
        record(&mut texts, api.health().await.unwrap_err());
        record(&mut texts, api.list_policies(None).await.unwrap_err());
        record(&mut texts, api.find_agent("a").await.unwrap_err());
        record(&mut texts, api.health().await.unwrap_err());
        record(&mut texts, api.agent_status("x").await.unwrap_err());
        if let EnforceAnswer::PlanLimit { message, .. } = api.enforce(&request()).await.unwrap() {
            texts.push(message);
        } else {
            panic!("402 is a plan limit");
        }
        record(&mut texts, api.list_policies(None).await.unwrap_err());
        let client_err = api.health().await.unwrap_err();
        assert!(
            matches!(&client_err, ApiError::Client(404, m) if m.contains("[redacted]")),
            "{client_err:?}"
        );
        record(&mut texts, client_err);

        let dead = ApiClient::new(config(&dead_base_url().await)).unwrap();
        record(&mut texts, dead.health().await.unwrap_err());
        record(&mut texts, dead.enforce(&request()).await.unwrap_err());
        record(
            &mut texts,
            dead.ingest_body(ingest_body(json!([{}])))
                .await
                .unwrap_err(),
        );

        let silent = TestServer::start(vec![Reply::silent()]).await;
        let mut cfg = config(&silent.base_url);
        cfg.request_timeout = Duration::from_millis(200);
        cfg.sign_requests = true;
        record(
            &mut texts,
            ApiClient::new(cfg).unwrap().health().await.unwrap_err(),
        );

        assert_eq!(texts.len(), 23);
        for t in &texts {
            assert_no_key(t);
        }
    }
}
