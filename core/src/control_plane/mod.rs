//! The control plane's HTTP client: one request per call ([`ApiClient`]),
//! and the pieces callers build reliability from: a [`CircuitBreaker`],
//! exponential [`backoff`] with jitter, and [`send_batch`] for traces.
//!
//! Wire format: the Execlave control-plane API (`/api/v1/...`), as the
//! official SDK speaks it.

pub mod api;
pub mod backoff;
pub mod breaker;
pub mod error;
pub mod trace_sender;

#[cfg(test)]
mod test_server;

pub use api::{
    enforce_input, ApiClient, ApiConfig, EnforceAnswer, EnforceRequest, PolicyList,
    RemoteAgentStatus, DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_USER_AGENT,
    MAX_BODY_BYTES,
};
pub use breaker::{BreakerState, CircuitBreaker};
pub use error::ApiError;
pub use trace_sender::{send_batch, RetryPolicy, SendResult};
