//! The control plane: its HTTP client ([`ApiClient`], one request per
//! call, the endpoints' types in [`endpoints`]), the pieces reliability is
//! built from (a [`CircuitBreaker`], exponential [`backoff`] with jitter),
//! and the [`Connection`] the rest of the core shares: client, breaker and
//! the rejected-key state, with one place that books each answer.
//!
//! Wire format: the Execlave control-plane API (`/api/v1/...`), as the
//! official SDK speaks it.

pub mod approvals;
pub mod backoff;
pub mod breaker;
mod bypass_windows;
pub mod client;
pub mod connection;
pub mod endpoints;
pub mod error;
mod tool_integrity;

#[cfg(any(test, feature = "test-support"))]
mod test_approvals;
#[cfg(any(test, feature = "test-support"))]
pub mod test_server;

pub use breaker::{CircuitBreaker, DEFAULT_COOL_DOWN, DEFAULT_FAILURE_THRESHOLD};
pub use client::{
    ApiClient, ApiConfig, DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_USER_AGENT,
    MAX_BODY_BYTES,
};
pub use connection::Connection;
pub use endpoints::{
    enforce_input, EnforceAnswer, EnforceRequest, PolicyList, RemoteAgentStatus,
    MAX_ENFORCE_INPUT_CHARS,
};
pub use error::ApiError;
