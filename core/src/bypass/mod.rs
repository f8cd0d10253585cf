//! Bypass windows (`POST /api/v1/sdk/bypass-windows`): the calls that went
//! ahead under `fail_open` without a decision, told to the platform's audit
//! log so that the people running the dashboard see the gap.
//!
//! [`windows`] groups bypasses per (agent, reason) and bounds what is kept;
//! [`report`] sends the closed windows in the background and once more at
//! shutdown. The host's local callback (`onEnforcementBypassed`) is
//! separate and stays.

pub mod report;
pub mod windows;

pub use report::{BypassReporter, ReportTiming};
pub use windows::{BypassReason, BypassWindows, WindowLimits};
