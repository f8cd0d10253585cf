//! What the model reads is governed too: a tool's result goes to the
//! control plane's `tool_output_scan` policies (`toolOutputs` of an enforce
//! request) after the server answers and before the caller gets it.
//!
//! [`text`] turns a result into the text the model would read, bounded;
//! [`check`] asks the control plane and says what the host must do
//! ([`crate::Governor::check_tool_output`], one call a host or the
//! `execlave-mcp` relay makes per allowed call).

pub mod check;
pub mod text;

/// The policy type that asks for the scan.
pub const TOOL_OUTPUT_SCAN: &str = "tool_output_scan";
