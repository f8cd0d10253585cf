//! What can go wrong talking to the control plane.

use std::fmt;

/// A failed control-plane request.
///
/// No variant ever holds the API key: every message that could carry text
/// from elsewhere (a transport error, a server's error message) is built by
/// [`ApiClient`](super::ApiClient), which removes the key before it stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request did not get an answer: DNS, connect, TLS, reset, timeout.
    Network(String),
    /// The server answered 5xx.
    Server(u16),
    /// The server refused the key: 401, or 403 where 403 is not a decision.
    Auth(u16),
    /// 402 on an endpoint other than enforce: the plan's quota is used up.
    QuotaExceeded,
    /// Any other 4xx, with the message of the body's `{"error":{"message"}}`
    /// (empty when there is none).
    Client(u16, String),
    /// The server answered, but not in the wire format: a body that is not
    /// JSON or not of the expected shape, a body over the size cap, an
    /// unexpected status such as a redirect.
    Malformed(String),
    /// A status the API never answers with (a 1xx or 3xx: the client follows
    /// no redirect). An outage for a background poll, but for a call's
    /// decision something between us and the API answered about this very
    /// request (see [`ApiError::is_enforce_outage`]).
    UnexpectedStatus(u16),
}

impl ApiError {
    /// Whether this error means "the control plane could not give an answer"
    /// rather than "the control plane said no".
    ///
    /// `Network`, `Server` and `Malformed` are outages: garbage from the API
    /// is not a decision, so the caller's outage policy (fail open / fail
    /// closed) and circuit breaker apply. So are `Client(408, _)` (request
    /// timeout) and `Client(429, _)` (rate limited): transient, and no
    /// decision either. `Auth`, `QuotaExceeded` and other `Client` errors are
    /// answers: retrying will not change them.
    pub fn is_outage(&self) -> bool {
        match self {
            ApiError::Network(_)
            | ApiError::Server(_)
            | ApiError::Malformed(_)
            | ApiError::UnexpectedStatus(_) => true,
            ApiError::Client(status, _) => is_transient_client_status(*status),
            ApiError::Auth(_) | ApiError::QuotaExceeded => false,
        }
    }

    /// Whether a failed `POST /policies/enforce` is an outage, so that
    /// `enforcementOnOutage` may apply. Only network errors and timeouts,
    /// 5xx, 408 and 429, and a 2xx whose body is not a decision are. Any
    /// other status (400, 404, 409, 413, 422, a 3xx…) answers this very
    /// request, whose arguments a model chose: failing open there would let
    /// a crafted call (a 2 MiB argument drawing a 413) skip the check.
    pub fn is_enforce_outage(&self) -> bool {
        match self {
            ApiError::Network(_) | ApiError::Server(_) | ApiError::Malformed(_) => true,
            ApiError::Client(status, _) => is_transient_client_status(*status),
            ApiError::UnexpectedStatus(_) | ApiError::Auth(_) | ApiError::QuotaExceeded => false,
        }
    }

    /// Whether trying the same request again later may succeed. Same set as
    /// [`is_outage`](Self::is_outage).
    pub fn is_retryable(&self) -> bool {
        self.is_outage()
    }

    /// The HTTP status the server answered with, if it answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Server(s)
            | ApiError::Auth(s)
            | ApiError::Client(s, _)
            | ApiError::UnexpectedStatus(s) => Some(*s),
            ApiError::QuotaExceeded => Some(402),
            ApiError::Network(_) | ApiError::Malformed(_) => None,
        }
    }
}

/// 408 Request Timeout and 429 Too Many Requests: 4xx that say "not now"
/// rather than "never".
pub(crate) fn is_transient_client_status(status: u16) -> bool {
    matches!(status, 408 | 429)
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Network(msg) => write!(f, "control plane unreachable: {msg}"),
            ApiError::Server(status) => write!(f, "control plane server error (HTTP {status})"),
            ApiError::Auth(status) => write!(
                f,
                "control plane rejected the API key (HTTP {status}): check apiKey / EXECLAVE_API_KEY"
            ),
            ApiError::QuotaExceeded => write!(f, "plan quota exceeded (HTTP 402)"),
            ApiError::Client(status, msg) if msg.is_empty() => {
                write!(f, "control plane refused the request (HTTP {status})")
            }
            ApiError::Client(status, msg) => {
                write!(f, "control plane refused the request (HTTP {status}): {msg}")
            }
            ApiError::Malformed(msg) => write!(f, "unexpected answer from the control plane: {msg}"),
            ApiError::UnexpectedStatus(status) => {
                write!(f, "unexpected answer from the control plane: HTTP {status}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_classification() {
        assert!(ApiError::Network("x".into()).is_outage());
        assert!(ApiError::Server(503).is_outage());
        assert!(ApiError::Malformed("x".into()).is_outage());
        assert!(ApiError::Client(429, String::new()).is_outage());
        assert!(ApiError::Client(408, String::new()).is_outage());
        assert!(!ApiError::Client(400, String::new()).is_outage());
        assert!(!ApiError::Auth(401).is_outage());
        assert!(!ApiError::QuotaExceeded.is_outage());
    }

    #[test]
    fn display_and_status() {
        assert_eq!(
            ApiError::Client(400, "bad input".into()).to_string(),
            "control plane refused the request (HTTP 400): bad input"
        );
        assert_eq!(
            ApiError::Client(404, String::new()).to_string(),
            "control plane refused the request (HTTP 404)"
        );
        assert_eq!(ApiError::Server(502).status(), Some(502));
        assert_eq!(ApiError::Network("reset".into()).status(), None);
    }

    #[test]
    fn only_outages_of_enforce_may_fail_open() {
        let outages = [
            ApiError::Network("reset".into()),
            ApiError::Server(503),
            ApiError::Client(429, String::new()),
            ApiError::Client(408, String::new()),
            ApiError::Malformed("not JSON".into()),
        ];
        assert!(outages.iter().all(ApiError::is_enforce_outage));
        let refusals = [400, 404, 409, 413, 422]
            .map(|s| ApiError::Client(s, String::new()))
            .into_iter()
            .chain([
                ApiError::UnexpectedStatus(302),
                ApiError::UnexpectedStatus(101),
            ]);
        for e in refusals {
            assert!(!e.is_enforce_outage(), "{e}");
        }
    }
}
