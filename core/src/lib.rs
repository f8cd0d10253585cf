//! The Execlave governance core.
//!
//! Pure Rust: nothing in this crate knows about Node, napi or any other host.
//! Host bindings (the napi addon today, maybe Python later) marshal values in
//! and out of [`Governor`], which owns everything else.

pub mod agent;
pub mod decision;
pub mod policy;
