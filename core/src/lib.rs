//! The Execlave governance core.
//!
//! Pure Rust: nothing in this crate knows about Node, napi or any other host.
//! Host bindings (the napi addon today, maybe Python later) marshal values in
//! and out of [`Governor`], which owns everything else.

pub mod agent;
pub mod audit_log;
pub mod clock;
pub mod control_plane;
pub mod decision;
mod delivery;
pub mod governor;
pub mod log;
pub mod options;
pub mod outcome;
pub mod policy;
pub mod policy_cache;
pub mod record;
pub mod record_buffer;
mod remote_decision;
pub mod stats;
mod sync;
pub mod trace_batch;

pub use governor::{AgentHandle, Completion, Governor};
pub use options::GovernorOptions;
pub use outcome::{Outcome, Ticket, Undecided};
