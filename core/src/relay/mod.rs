//! `execlave-mcp`: the governance proxy for MCP hosts whose client code
//! cannot be wrapped (Claude Desktop, Claude Code, Cursor, VS Code). It
//! sits between the host and a stdio MCP server, written once here and
//! run by both packages' launchers through their bindings:
//!
//! - [`cli`]: the command line;
//! - [`framing`]: newline-delimited JSON-RPC, its size limit, classifying;
//! - [`host_io`]: the host's end (the proxy's stdin and stdout), written
//!   with a `quiet_writer` (as a stdio server's stdin is);
//! - [`upstream`]: the server's child process; [`http_upstream`]: a server
//!   over Streamable HTTP instead (`--url`, [`http_target`]), its event
//!   streams read (and resumed) by [`http_events`] with [`sse`];
//!   [`server`]: either, to end;
//! - [`router`]: the loop that passes every message on;
//! - [`gate`]: the `tools/call` decision; [`approval`]: asking the host's
//!   user; [`remote_approval`]: a control-plane approval (202) asked there
//!   too; [`results`]: an allowed call's answer;
//! - [`listing`]: `tools/list` answers (pins, hidden tools);
//! - [`cancelled`]: requests the host cancelled.
//!
//! The relay's I/O runs on a runtime of its own on the calling thread; the
//! governor's futures (control plane, approvals) run on the governor's.

mod approval;
mod cancelled;
pub mod cli;
mod context;
pub mod framing;
mod gate;
mod host_io;
mod http_events;
mod http_target;
mod http_upstream;
mod listing;
#[cfg(unix)]
mod quiet_writer;
mod remote_approval;
mod results;
mod router;
mod server;
mod sse;
mod upstream;

pub use cli::{parse_args, Invocation, OnBlock, RelayConfig, HELP};
pub use framing::MAX_MESSAGE_BYTES;

use crate::options::{GovernorOptions, PolicyInput};
use crate::tools::ToolPins;
use crate::Governor;
use std::sync::Arc;
use std::time::Duration;

/// How long records may take to be delivered when the relay ends.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Says something on stderr, which the host shows in its MCP log.
pub(crate) fn say(message: &str) {
    eprintln!("execlave-mcp: {message}");
}

/// The whole command: reads `args` (without the program name), runs the
/// relay until the host or the server ends, and returns the exit code. An
/// error is one line on stderr.
pub fn main(args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(Invocation::Help) => {
            print!("{HELP}");
            0
        }
        // The workspace's one version: the npm package and the wheel say
        // the same (`__test__/packaging.test.mjs`).
        Ok(Invocation::Version) => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Invocation::Run(config)) => match run(config) {
            Ok(code) => code,
            Err(e) => {
                say(&e);
                1
            }
        },
        Err(e) => {
            say(&e);
            2
        }
    }
}

/// Runs the relay (blocking the calling thread); the exit code.
pub fn run(config: RelayConfig) -> Result<i32, String> {
    let governor = start_governor(&config)?;
    let session_id = uuid::Uuid::new_v4().to_string();
    let agent = governor
        .register_agent(&config.agent_id, Some(&session_id), None, true)
        .map_err(|e| format!("--agent-id: {}", e.message))?;
    let pins = match &config.tool_pins {
        None => None,
        Some(file) => Some(
            ToolPins::open(file.clone(), config.on_tool_change, "execlave-pins".into())
                .map_err(|e| e.message)?,
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the relay's runtime: {e}"))?;
    let (to_host, host_out) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(context::Context::new(
        governor.clone(),
        agent,
        config,
        session_id,
        pins,
        to_host,
    ));
    let code = runtime.block_on(router::relay(ctx.clone(), host_out));
    // The stdin reader may still be blocked in a read: not waited for.
    runtime.shutdown_background();
    if let Some(pins) = &ctx.pins {
        pins.lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush_pending();
    }
    shut_down(&governor);
    code
}

/// Delivers the records still buffered, within [`SHUTDOWN_TIMEOUT`].
fn shut_down(governor: &Governor) {
    let (tx, rx) = std::sync::mpsc::channel();
    let g = governor.clone();
    governor.run_async(
        async move { g.shutdown(SHUTDOWN_TIMEOUT).await },
        move |_| {
            let _ = tx.send(());
        },
    );
    let _ = rx.recv_timeout(SHUTDOWN_TIMEOUT + Duration::from_secs(1));
}

fn start_governor(config: &RelayConfig) -> Result<Governor, String> {
    let mut options = GovernorOptions {
        audit_log: config.audit_log.clone(),
        debug: config.debug,
        // The relay is the approver: it asks the host's user (or refuses).
        local_approver: true,
        ..GovernorOptions::default()
    };
    if let Some(timeout) = config.approval_timeout {
        options.approval_timeout_ms = timeout.as_millis() as u64;
    }
    options.policies = match config.policies.as_slice() {
        [] => None,
        [one] => Some(PolicyInput::Path(one.clone())),
        many => {
            let mut values = Vec::new();
            for path in many {
                let loaded = crate::policy::load_path(std::path::Path::new(path))
                    .map_err(|e| format!("--policy {path}: {e}"))?;
                values.extend(loaded.into_iter().map(|p| p.value));
            }
            Some(PolicyInput::Inline(values))
        }
    };
    options.fill_from_env(|k| std::env::var(k).ok());
    if options.api_key.is_none() && options.policies.is_none() {
        // The SDK's message names its options; this one names the flags.
        return Err("no policies and no API key: give --policy FILE (or set \
             EXECLAVE_POLICY_PATH) for local policies, or set EXECLAVE_API_KEY to use \
             the Execlave control plane"
            .into());
    }
    Governor::new(options).map_err(|e| e.message)
}
