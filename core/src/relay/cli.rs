//! The command line of `execlave-mcp`, read once here for both launchers
//! (the npm bin and the Python console script hand their argv over as is):
//! the same flags, defaults, errors and `--help` whatever the package.

use super::http_target::HttpTarget;
use crate::tools::OnToolChange;
use std::path::PathBuf;

/// How a refused `tools/call` is answered to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBlock {
    /// A `CallToolResult` with `isError: true`: the host shows the refusal
    /// to the model and the user.
    Result,
    /// A JSON-RPC error.
    Error,
}

/// What `execlave-mcp` was asked to run.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub agent_id: String,
    /// `--policy` files or directories, in order (empty: the environment's
    /// `EXECLAVE_POLICY_PATH`, or the control plane's policies).
    pub policies: Vec<String>,
    pub audit_log: Option<PathBuf>,
    pub tool_pins: Option<PathBuf>,
    pub on_tool_change: OnToolChange,
    pub hide_blocked_tools: bool,
    pub on_block: OnBlock,
    pub debug: bool,
    /// `--approval-timeout`: how long a call waits for its approval, in
    /// the host's window and from the control plane (`None`: 5 minutes in
    /// the host, the governor's `approvalTimeoutMs` for the service).
    pub approval_timeout: Option<std::time::Duration>,
    /// The MCP server's command and its arguments (after `--`); empty
    /// for a Streamable HTTP upstream.
    pub command: Vec<String>,
    /// `--url` and its `--header`s: a Streamable HTTP upstream.
    pub http: Option<Box<HttpTarget>>,
}

impl RelayConfig {
    /// The upstream as records name it: the command, or the URL without
    /// its secrets (never the headers).
    pub fn upstream_name(&self) -> String {
        match &self.http {
            Some(target) => target.shown(),
            None => self.command.join(" "),
        }
    }
}

/// The command line, read.
#[derive(Debug)]
pub enum Invocation {
    Help,
    Version,
    Run(RelayConfig),
}

pub const HELP: &str = "\
Usage: execlave-mcp [options] -- <server command> [args...]
       execlave-mcp [options] --url <https://host/mcp> [--header 'Name: value']...

Governs an MCP server for a host you cannot wrap (Claude Desktop, Claude
Code, Cursor, VS Code): every tools/call is checked against your policies
before the server sees it, and recorded. Everything else passes unchanged.

Options:
  --agent-id ID             the agent these calls are made for (required)
  --policy FILE             a policy file or directory (repeatable;
                            default: $EXECLAVE_POLICY_PATH)
  --audit-log FILE          append every call's record to this JSONL file
  --tool-pins FILE          pin the server's tool definitions in this lockfile
  --on-tool-change MODE     warn | block (default: warn)
  --hide-blocked-tools      hide tools a policy refuses from tools/list (default)
  --no-hide-blocked-tools   list every tool the server lists
  --on-block MODE           result | error (default: result): how a refused
                            call is answered to the host
  --url URL                 a Streamable HTTP MCP server instead of a command
                            (plain http:// is for loopback; elsewhere it warns)
  --header 'Name: value'    send this header to the --url server (repeatable),
                            e.g. --header 'Authorization: Bearer TOKEN'
  --approval-timeout SECS   how long a call waits for its approval, asked in
                            the host's window and from the control plane
                            (default: 300 in the host, 1800 for the service)
  --debug                   say what the governor does on stderr
  -h, --help                show this text
  -v, --version             show the SDK version

Environment: EXECLAVE_API_KEY and EXECLAVE_BASE_URL connect the control
plane; EXECLAVE_POLICY_PATH is the policy path when no --policy is given.
Docs: docs/mcp-proxy.md
";

/// Reads `args` (without the program name). An error is one line that
/// names what to fix.
pub fn parse_args(args: &[String]) -> Result<Invocation, String> {
    let mut agent_id = None;
    let mut policies = Vec::new();
    let mut audit_log = None;
    let mut tool_pins = None;
    let mut on_tool_change = None;
    let mut hide_blocked_tools = true;
    let mut on_block = OnBlock::Result;
    let mut debug = false;
    let mut approval_timeout = None;
    let mut rest = args.iter();
    let mut command = Vec::new();
    let mut url = None;
    let mut headers = Vec::new();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            command = rest.by_ref().cloned().collect();
            break;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| rest.next().cloned()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("{name} needs a value")),
            }
        };
        match flag {
            "--help" | "-h" => return Ok(Invocation::Help),
            "--version" | "-v" => return Ok(Invocation::Version),
            "--agent-id" => agent_id = Some(value(flag)?),
            "--policy" => policies.push(value(flag)?),
            "--audit-log" => audit_log = Some(PathBuf::from(value(flag)?)),
            "--tool-pins" => tool_pins = Some(PathBuf::from(value(flag)?)),
            "--on-tool-change" => {
                on_tool_change = Some(
                    OnToolChange::parse(&value(flag)?, "--on-tool-change")
                        .map_err(|e| e.message)?,
                )
            }
            "--hide-blocked-tools" => hide_blocked_tools = flag_value(flag, inline.as_deref())?,
            "--no-hide-blocked-tools" => hide_blocked_tools = false,
            "--on-block" => {
                on_block = match value(flag)?.as_str() {
                    "result" => OnBlock::Result,
                    "error" => OnBlock::Error,
                    other => {
                        return Err(format!(
                            "--on-block must be result or error, not {other:?}"
                        ))
                    }
                }
            }
            "--debug" => debug = flag_value(flag, inline.as_deref())?,
            "--approval-timeout" => approval_timeout = Some(seconds(flag, &value(flag)?)?),
            "--url" => url = Some(value(flag)?),
            "--header" => headers.push(value(flag)?),
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other:?} (see execlave-mcp --help)"))
            }
            other => {
                return Err(format!(
                    "unexpected argument {other:?}: put the server command after --, e.g. execlave-mcp --agent-id my-agent -- npx -y @modelcontextprotocol/server-filesystem /tmp"
                ))
            }
        }
    }
    let agent_id = agent_id.ok_or(
        "--agent-id is required: the agent these calls are made for, e.g. --agent-id claude-desktop",
    )?;
    let http = upstream_of(url, &headers, &command)?;
    if on_tool_change.is_some() && tool_pins.is_none() {
        return Err("--on-tool-change needs --tool-pins FILE".into());
    }
    Ok(Invocation::Run(RelayConfig {
        agent_id,
        policies,
        audit_log,
        tool_pins,
        on_tool_change: on_tool_change.unwrap_or(OnToolChange::Warn),
        hide_blocked_tools,
        on_block,
        debug,
        approval_timeout,
        command,
        http,
    }))
}

/// The upstream: a command after `--`, or `--url` (not both).
fn upstream_of(
    url: Option<String>,
    headers: &[String],
    command: &[String],
) -> Result<Option<Box<HttpTarget>>, String> {
    match url {
        Some(_) if !command.is_empty() => Err(
            "--url and a server command after -- are two upstreams: give one (the command runs a stdio server; --url reaches an HTTP one)".into(),
        ),
        Some(url) => HttpTarget::parse(&url, headers).map(|t| Some(Box::new(t))),
        None if !headers.is_empty() => {
            Err("--header is for an HTTP upstream: it needs --url".into())
        }
        None if command.first().is_none_or(|c| c.is_empty()) => Err("no server command: put it after --, e.g. execlave-mcp --agent-id my-agent -- npx -y @modelcontextprotocol/server-filesystem /tmp (or give --url https://host/mcp)".into()),
        None => Ok(None),
    }
}

/// A whole number of seconds, at least 1.
fn seconds(flag: &str, text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!(
            "{flag} must be a whole number of seconds from 1 to 86400, not {text:?}"
        )),
    }
}

/// A boolean flag: bare is true, `=true`/`=false` say which.
fn flag_value(flag: &str, inline: Option<&str>) -> Result<bool, String> {
    match inline {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!(
            "{flag} takes no value, or =true / =false, not {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn reads_the_options_and_the_command() {
        let Invocation::Run(c) = parse_args(&args(
            "--agent-id a --policy p.yaml --policy=q.yaml --on-block error --no-hide-blocked-tools -- node s.js --x",
        ))
        .unwrap() else {
            panic!("not a run")
        };
        assert_eq!(c.agent_id, "a");
        assert_eq!(c.policies, ["p.yaml", "q.yaml"]);
        assert_eq!(c.on_block, OnBlock::Error);
        assert!(!c.hide_blocked_tools);
        assert_eq!(c.command, ["node", "s.js", "--x"]);
        assert_eq!(c.approval_timeout, None);
        let Invocation::Run(c) =
            parse_args(&args("--agent-id a --approval-timeout=90 -- x")).unwrap()
        else {
            panic!("not a run")
        };
        assert_eq!(c.approval_timeout, Some(std::time::Duration::from_secs(90)));
    }

    #[test]
    fn bad_command_lines_say_what_to_fix() {
        let err = |t: &str| parse_args(&args(t)).unwrap_err();
        assert!(err("--agent-id a --frobnicate -- x").contains("unknown option \"--frobnicate\""));
        assert!(err("--policy p -- x").contains("--agent-id is required"));
        assert!(err("--agent-id a").contains("no server command"));
        assert!(err("--agent-id a --on-block maybe -- x").contains("result or error"));
        assert!(err("--agent-id a --on-tool-change block -- x").contains("--tool-pins"));
        assert!(err("--agent-id a --approval-timeout 0 -- x").contains("from 1 to 86400"));
        assert!(err("--agent-id a --approval-timeout 2m -- x").contains("not \"2m\""));
        assert!(matches!(parse_args(&args("--help")), Ok(Invocation::Help)));
        assert!(matches!(
            parse_args(&args("--version")),
            Ok(Invocation::Version)
        ));
    }

    #[test]
    fn an_http_upstream_is_a_url_and_its_headers() {
        let run = |t: &str| match parse_args(&args(t)) {
            Ok(Invocation::Run(c)) => c,
            other => panic!("{other:?}"),
        };
        let c =
            run("--agent-id a --url https://u:p@h.example/mcp?key=s --header X-A:1 --header=X-B:2");
        let target = c.http.as_ref().unwrap();
        assert_eq!(target.headers["x-a"], "1");
        assert_eq!(target.headers["x-b"], "2");
        assert!(c.command.is_empty());
        assert_eq!(c.upstream_name(), "https://h.example/mcp");
        assert_eq!(
            run("--agent-id a -- node s.js").upstream_name(),
            "node s.js"
        );
    }

    #[test]
    fn http_command_lines_say_what_to_fix() {
        let err = |t: &str| parse_args(&args(t)).unwrap_err();
        assert!(err("--agent-id a --url https://h/mcp -- node s.js").contains("two upstreams"));
        assert!(err("--agent-id a --header X:1 -- node s.js").contains("needs --url"));
        assert!(err("--agent-id a --url https://h/mcp --header nocolon")
            .contains("--header #1 has no ':'"));
        assert!(err("--agent-id a --url").contains("--url needs a value"));
        assert!(err("--agent-id a --url mcp.example.com").contains("--url: not a URL"));
        assert!(err("--agent-id a").contains("or give --url"));
    }
}
