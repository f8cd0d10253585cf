//! What a host does with a server's tools, written once for every host:
//!
//! - [`pins`]: pinned tool definitions (option `toolPins`), the check a
//!   listing and a call go through;
//! - [`canonical`], [`lockfile`], [`pending`], [`diff`]: the digest, the
//!   files it lives in, and the review's lines;
//! - [`review`]: `execlave-pins diff` / `accept`;
//! - [`in_band`]: the tool result a policy block becomes with
//!   `onBlock: 'result'`.
//!
//! Which tools a listing hides is decided by the engine
//! ([`crate::engine`]'s `refused_by_name`): it needs the policies in force.

pub mod baseline;
pub mod canonical;
pub mod descriptor;
pub mod diff;
pub mod in_band;
pub mod lockfile;
pub mod pending;
pub mod pins;
pub mod review;
mod sorted_json;
mod writer;

pub use pins::{OnToolChange, ToolChange, ToolPins};
