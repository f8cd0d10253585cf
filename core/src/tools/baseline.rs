//! `execlave-pins accept --report`: the accepted set of a lockfile sent as
//! the agent's tool-integrity baseline on the service, so that its
//! `tool_integrity` policies compare what the agent lists with what a
//! person reviewed. Blocking: for the command line, not for a client.

use super::descriptor::tool_descriptor;
use super::lockfile::read_lockfile;
use crate::control_plane::{ApiClient, ApiConfig};
use crate::log::one_line;
use crate::options::GovernorOptions;
use std::path::Path;

/// What the report sent.
#[derive(Debug, PartialEq, Eq)]
pub struct BaselineReport {
    pub internal_id: String,
    pub sent: usize,
    /// Tools whose definition the lockfile does not keep (only a digest):
    /// left out; list the tools again through the wrapper to keep them.
    pub skipped: Vec<String>,
}

/// Where to send it: the key and base URL as a client takes them
/// (`EXECLAVE_API_KEY`, `EXECLAVE_BASE_URL` when not given).
pub struct Target {
    pub api_key: Option<String>,
    pub base_url: Option<String>,
}

/// Reads the lockfile's pins as `server`'s tools and sends them as the
/// baseline of `agent_id`.
pub fn report_baseline(
    lockfile: &Path,
    server: &str,
    agent_id: &str,
    target: Target,
) -> Result<BaselineReport, String> {
    if server.is_empty() || agent_id.is_empty() {
        return Err("--report needs --agent <agentId> and --server <the MCP server's name>".into());
    }
    let mut options = GovernorOptions {
        api_key: target.api_key,
        base_url: target.base_url,
        policies: None,
        ..GovernorOptions::default()
    };
    options.fill_from_env(|k| std::env::var(k).ok());
    if options.api_key.is_none() {
        return Err("--report needs an API key: set EXECLAVE_API_KEY".into());
    }
    options.validate()?;
    let pins = read_lockfile(lockfile)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no lockfile at {}",
                one_line(&lockfile.display().to_string())
            )
        })?;
    let mut skipped = Vec::new();
    let mut descriptors = Vec::new();
    for (name, pin) in &pins {
        match pin
            .definition
            .as_ref()
            .and_then(|d| tool_descriptor(server, d))
        {
            Some(d) => descriptors.push(d),
            None => skipped.push(name.clone()),
        }
    }
    let key = options.api_key.clone().unwrap_or_default();
    let api = ApiClient::new(ApiConfig::new(options.base_url(), key))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    let internal_id = runtime.block_on(async {
        let id = api
            .find_agent(agent_id)
            .await
            .map_err(|e| format!("looking up agent {:?}: {e}", one_line(agent_id)))?
            .ok_or_else(|| format!("no agent {:?} on the control plane", one_line(agent_id)))?;
        api.report_baseline(&id, &descriptors)
            .await
            .map_err(|e| format!("sending the baseline: {e}"))?;
        Ok::<_, String>(id)
    })?;
    Ok(BaselineReport {
        internal_id,
        sent: descriptors.len(),
        skipped,
    })
}
