//! The Execlave governance core.
//!
//! Pure Rust: nothing in this crate knows about Node, napi or any other host.
//! Host bindings (the napi addon today, Python next) marshal values in and
//! out of [`Governor`], a facade over the parts:
//!
//! - [`engine`]: agents, the policies in force, the decision, outcomes, the
//!   calls between decision and end (tickets, record order);
//! - [`records`]: call records, their buffer and batches, the pipeline and
//!   its sinks (audit log, control-plane ingest);
//! - [`sync`]: policy sync, the kill switch, server-side decisions;
//! - [`control_plane`]: the HTTP client, endpoints, breaker, backoff,
//!   errors, and the shared [`control_plane::Connection`];
//! - [`policy`]: loading and evaluating policies;
//! - [`tools`]: what a host does with a server's tools (pins, the review,
//!   in-band block results).

pub mod agent;
pub mod background;
pub mod bypass;
pub mod clock;
pub mod control_plane;
pub mod decision;
pub mod engine;
pub mod error;
pub mod governor;
pub mod lifetime;
pub mod log;
pub mod messages;
mod option_errors;
pub mod options;
pub mod policy;
pub mod records;
pub mod redact;
pub mod relay;
pub mod stats;
pub mod sync;
pub mod tool_output;
pub mod tools;

pub use engine::{AgentHandle, Completion, Ending, Outcome, Ticket, Undecided};
pub use error::{Error, ErrorKind};
pub use governor::Governor;
pub use options::GovernorOptions;
