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
use std::sync::RwLock;
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
use crate::redact::{redact_key, redact_value, REDACTED};

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

/// Characters left as they are in a path segment or query value: RFC 3986
/// unreserved. Everything else is percent-encoded.
pub(super) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
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
    /// Replaced only in a forked child ([`ApiClient::renew_after_fork`]).
    http: RwLock<reqwest::Client>,
    /// How `http` was built, to build it again after a fork.
    http_settings: HttpSettings,
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

/// What the HTTP client is built from.
struct HttpSettings {
    headers: HeaderMap,
    user_agent: HeaderValue,
    timeout: Duration,
    loopback: bool,
}

impl HttpSettings {
    fn build(&self) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .default_headers(self.headers.clone())
            .user_agent(self.user_agent.clone())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            // The API does not redirect; following one could carry the key
            // somewhere else (or to plain http).
            .redirect(reqwest::redirect::Policy::none());
        if self.loopback {
            // A proxy from the environment has no business in a loopback
            // connection.
            builder = builder.no_proxy();
        }
        builder.build()
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
    // The URL parser has no Unicode IDNA tables (core/Cargo.toml pins
    // idna_adapter to its ASCII-only stream, issue 11): say how to write an
    // internationalised host rather than the parser's bare "invalid domain".
    if !trimmed.is_ascii() {
        return Err(
            "the control-plane base URL must be ASCII: write an internationalised host name in \
             its punycode form (xn--...) and percent-encode any other non-ASCII character"
                .into(),
        );
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
pub fn signature(api_key: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The object that carries the answer: the body itself, or its `data` when
/// the body is wrapped as `{"data": {...}}` and `key` is not at the top.
pub(super) fn unwrap_data<'a>(body: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
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

pub(super) fn truncate_chars(s: &str, max: usize) -> String {
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
        let http_settings = HttpSettings {
            headers,
            user_agent,
            timeout: cfg.request_timeout,
            loopback: base.loopback,
        };
        let http = http_settings
            .build()
            .map_err(|e| redact(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            http: RwLock::new(http),
            http_settings,
            base_url: base.url,
            api_key: key,
            sign_requests: cfg.sign_requests,
            request_timeout: cfg.request_timeout,
        })
    }

    /// The normalized base URL (no trailing `/`); tests check it.
    #[cfg(any(test, feature = "test-support"))]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// In a forked child: a new HTTP client. The parent's is leaked, not
    /// dropped: its pooled connections are the parent's sockets, and its
    /// connection tasks belonged to a runtime the child does not have.
    pub fn renew_after_fork(&self) -> Result<(), String> {
        let fresh = self
            .http_settings
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut http = self.http.write().unwrap_or_else(|e| e.into_inner());
        std::mem::forget(std::mem::replace(&mut *http, fresh));
        Ok(())
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
    #[cfg(any(test, feature = "test-support"))]
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
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Response, ApiError> {
        let url = format!("{}{}", self.base_url, path);
        let http = self.http.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut req = http.request(method, url);
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
    pub(super) async fn error_for(&self, resp: Response) -> ApiError {
        let status = resp.status().as_u16();
        match status {
            401 | 403 => ApiError::Auth(status),
            402 => ApiError::QuotaExceeded,
            400..=499 => ApiError::Client(status, self.error_message(resp).await),
            500..=599 => ApiError::Server(status),
            _ => ApiError::UnexpectedStatus(status),
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

    pub(super) async fn read_json(&self, resp: Response) -> Result<Value, ApiError> {
        self.read_json_capped(resp, MAX_BODY_BYTES).await
    }

    async fn read_json_capped(&self, resp: Response, cap: usize) -> Result<Value, ApiError> {
        let bytes = self.read_capped(resp, cap).await?;
        let mut value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Malformed(format!("the answer is not valid JSON ({e})")))?;
        // Violation messages, policies, reasons: server text that ends up in
        // errors, log lines and records must not carry the key on.
        redact_value(&mut value, &self.api_key);
        Ok(value)
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
    pub(super) async fn drain(&self, resp: Response) {
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

    pub(super) fn redact(&self, s: String) -> String {
        redact_key(s, &self.api_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_non_ascii_host_is_refused_and_its_punycode_form_accepted() {
        // The URL parser is built without Unicode IDNA tables (binary size,
        // issue 11): an internationalised host must come in its ASCII
        // (punycode) form, and the error must say how.
        let err = check_base_url("https://bücher.example/")
            .err()
            .expect("a non-ASCII host is refused");
        assert!(
            err.contains("xn--"),
            "the error names the punycode form: {err}"
        );
        let ok = check_base_url("https://xn--bcher-kva.example/").expect("punycode host");
        assert_eq!(ok.url, "https://xn--bcher-kva.example");
        assert!(!ok.loopback);
        // ASCII hosts are still lower-cased by the parser.
        let ok = check_base_url("https://API.Example.COM").expect("ascii host");
        assert_eq!(ok.url, "https://api.example.com");
    }
}
