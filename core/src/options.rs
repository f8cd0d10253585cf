//! The client's settings, as a host passes them (JSON, camelCase), with the
//! documented defaults and environment variables applied in one place so
//! that every binding behaves the same.

use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

use crate::control_plane::{DEFAULT_BASE_URL, DEFAULT_COOL_DOWN};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutageMode {
    /// Allow, and report the bypass (the official SDK's default).
    #[default]
    FailOpen,
    /// Refuse with `EnforcementUnavailableError`.
    FailClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementMode {
    /// Decide locally; ask the control plane only for what it alone decides.
    #[default]
    Local,
    /// Ask the control plane on every call (the official SDK's behaviour).
    Remote,
}

/// Policies given inline (objects) or as a path to a file or directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PolicyInput {
    Inline(Vec<Value>),
    Path(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GovernorOptions {
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub environment: String,
    pub policies: Option<PolicyInput>,
    pub audit_log: Option<PathBuf>,
    pub debug: bool,
    pub enforcement: EnforcementMode,
    pub enforcement_on_outage: OutageMode,
    pub policy_refresh_ms: u64,
    pub poll_interval_ms: u64,
    pub policy_cache_path: Option<PathBuf>,
    pub first_sync_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub sign_requests: bool,
    /// How long the circuit breaker stays open before one trial request.
    pub circuit_breaker_cooldown_ms: u64,
    pub buffer_size: usize,
    pub batch_size: usize,
    /// Default: 10 000 with a control plane, 1 000 with only an audit log.
    pub flush_interval_ms: Option<u64>,
    /// Calls decided but not yet completed; beyond this the oldest is
    /// recorded as never completed, so a leaked promise cannot leak memory.
    pub max_pending_calls: usize,
    /// How long a call waits for a human's approval (the service's own
    /// limit: 30 minutes).
    pub approval_timeout_ms: u64,
    /// How often a waiting call asks whether it was approved.
    pub approval_poll_interval_ms: u64,
    /// Set by the host when the client has an approver for local
    /// `require_approval` policies (the function itself stays in the host).
    pub local_approver: bool,
    /// Report calls that went ahead without a decision (`fail_open`) to
    /// the control plane's audit log (`POST /api/v1/sdk/bypass-windows`).
    pub report_bypasses: bool,
    /// Send every allowed call's result to the control plane's
    /// `tool_output_scan` policies, even when none is known to apply.
    pub scan_tool_outputs: bool,
    /// Where diagnostics go: the host's logger, set by a binding (never
    /// from JSON); `None`: the `log` facade (see `crate::log`).
    #[serde(skip)]
    pub log_sink: Option<crate::log::LogSink>,
}

impl Default for GovernorOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            environment: "production".into(),
            policies: None,
            audit_log: None,
            debug: false,
            enforcement: EnforcementMode::Local,
            enforcement_on_outage: OutageMode::FailOpen,
            policy_refresh_ms: 30_000,
            poll_interval_ms: 15_000,
            policy_cache_path: None,
            first_sync_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            sign_requests: false,
            circuit_breaker_cooldown_ms: DEFAULT_COOL_DOWN.as_millis() as u64,
            buffer_size: 10_000,
            batch_size: 100,
            flush_interval_ms: None,
            max_pending_calls: 10_000,
            approval_timeout_ms: 30 * 60 * 1000,
            approval_poll_interval_ms: 5_000,
            local_approver: false,
            report_bypasses: true,
            scan_tool_outputs: false,
            log_sink: None,
        }
    }
}

impl GovernorOptions {
    /// Parses the host's JSON and fills what is unset from the environment
    /// (`EXECLAVE_API_KEY`, `EXECLAVE_BASE_URL`, `EXECLAVE_POLICY_PATH`).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let mut o: GovernorOptions =
            crate::option_errors::read_options(json).map_err(Error::invalid_options)?;
        o.fill_from_env(|k| std::env::var(k).ok());
        o.validate().map_err(Error::invalid_options)?;
        Ok(o)
    }

    pub fn fill_from_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        let non_empty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if self.api_key.is_none() {
            self.api_key = non_empty("EXECLAVE_API_KEY");
        }
        if self.base_url.is_none() {
            self.base_url = non_empty("EXECLAVE_BASE_URL");
        }
        if self.policies.is_none() {
            self.policies = non_empty("EXECLAVE_POLICY_PATH").map(PolicyInput::Path);
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.is_none() && self.policies.is_none() {
            return Err(
                "no API key and no policies: set EXECLAVE_API_KEY (or the apiKey option) \
                 to use Execlave, or EXECLAVE_POLICY_PATH (or the policies option) to run with \
                 local policies only"
                    .into(),
            );
        }
        if let Some(k) = &self.api_key {
            check_api_key(k)?;
        }
        if !matches!(
            self.environment.as_str(),
            "development" | "staging" | "production"
        ) {
            return Err(format!(
                "environment must be development, staging or production, not {:?}",
                self.environment
            ));
        }
        for (name, v) in [
            ("bufferSize", self.buffer_size),
            ("batchSize", self.batch_size),
            ("maxPendingCalls", self.max_pending_calls),
            ("approvalTimeoutMs", self.approval_timeout_ms as usize),
            (
                "approvalPollIntervalMs",
                self.approval_poll_interval_ms as usize,
            ),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }

    /// The base URL without a trailing `/`.
    pub fn base_url(&self) -> String {
        self.base_url
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/')
            .to_string()
    }

    pub fn is_local_only(&self) -> bool {
        self.api_key.is_none()
    }

    pub fn flush_interval_ms(&self) -> u64 {
        self.flush_interval_ms
            .unwrap_or(if self.is_local_only() { 1_000 } else { 10_000 })
            .max(1)
    }
}

/// The prefixes of Execlave API keys (execlave-api.md, "Auth").
pub const API_KEY_PREFIXES: [&str; 3] = ["exe_prod_", "exe_stg_", "exe_dev_"];
/// The fewest characters after the prefix a key may have: a key cut short
/// by a bad paste is refused at construction, not on the first call.
pub const API_KEY_MIN_SECRET: usize = 6;

/// Refuses a key that cannot be an Execlave API key, naming what is wrong
/// and never echoing the key (or any part of it).
fn check_api_key(key: &str) -> Result<(), String> {
    const WHAT: &str = "apiKey (or EXECLAVE_API_KEY)";
    if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
        return Err(format!("{WHAT} must be a non-empty string without spaces"));
    }
    let Some(secret) = API_KEY_PREFIXES.iter().find_map(|p| key.strip_prefix(p)) else {
        return Err(format!(
            "{WHAT} is not an Execlave API key: keys start with exe_prod_, exe_stg_ or \
             exe_dev_ (copy it whole from the Execlave dashboard)"
        ));
    };
    if secret.chars().count() < API_KEY_MIN_SECRET
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{WHAT} is cut short or mistyped: after its prefix a key has at least \
             {API_KEY_MIN_SECRET} letters, digits, '_' or '-' (copy it whole from the \
             Execlave dashboard)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, env: &[(&str, &str)]) -> Result<GovernorOptions, String> {
        let mut o: GovernorOptions = serde_json::from_str(json).map_err(|e| e.to_string())?;
        o.fill_from_env(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        o.validate().map(|_| o)
    }

    #[test]
    fn needs_a_key_or_policies() {
        let err = parse("{}", &[]).unwrap_err();
        assert!(err.contains("EXECLAVE_API_KEY") && err.contains("EXECLAVE_POLICY_PATH"));
        assert!(parse(r#"{"policies": []}"#, &[]).unwrap().is_local_only());
        let o = parse("{}", &[("EXECLAVE_API_KEY", "exe_dev_x1y2z3")]).unwrap();
        assert_eq!(o.api_key.as_deref(), Some("exe_dev_x1y2z3"));
        assert_eq!(o.base_url(), DEFAULT_BASE_URL);
    }

    #[test]
    fn explicit_options_win_over_env() {
        let o = parse(
            r#"{"apiKey": "exe_prod_a1b2c3", "baseUrl": "http://127.0.0.1:9/"}"#,
            &[
                ("EXECLAVE_API_KEY", "exe_dev_b"),
                ("EXECLAVE_BASE_URL", "https://x"),
            ],
        )
        .unwrap();
        assert_eq!(o.api_key.as_deref(), Some("exe_prod_a1b2c3"));
        assert_eq!(o.base_url(), "http://127.0.0.1:9");
    }

    #[test]
    fn policy_path_from_env_and_inline_policies() {
        let o = parse("{}", &[("EXECLAVE_POLICY_PATH", "/p.yaml")]).unwrap();
        assert!(matches!(o.policies, Some(PolicyInput::Path(p)) if p == "/p.yaml"));
        let o = parse(r#"{"policies": [{"name": "x"}]}"#, &[]).unwrap();
        assert!(matches!(o.policies, Some(PolicyInput::Inline(v)) if v.len() == 1));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(r#"{"policies": [], "environment": "prod"}"#, &[]).is_err());
        assert!(parse(r#"{"policies": [], "bufferSize": 0}"#, &[]).is_err());
        assert!(parse(r#"{"apiKey": " "}"#, &[]).is_err());
        assert!(parse(r#"{"policies": [], "enforcementOnOutage": "maybe"}"#, &[]).is_err());
        let o = parse(
            r#"{"policies": [], "enforcementOnOutage": "fail_closed"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(o.enforcement_on_outage, OutageMode::FailClosed);
    }

    #[test]
    fn api_keys_of_the_wrong_shape_are_refused_without_echo() {
        for bad in [
            "t",
            "sk-live-abcdef123456",
            "exe_live_abcdef123",
            "exe_dev_x",
            "exe_prod_ab/cd?ef",
            "EXE_DEV_abcdef",
        ] {
            let json = format!(r#"{{"apiKey": "{bad}"}}"#);
            let e = parse(&json, &[]).unwrap_err();
            assert!(e.starts_with("apiKey (or EXECLAVE_API_KEY)"), "{bad}: {e}");
            let secret = bad.rsplit('_').next().unwrap();
            assert!(bad.len() < 4 || !e.contains(bad), "{bad}: {e}");
            assert!(secret.len() < 4 || !e.contains(secret), "{bad}: {e}");
        }
        for good in ["exe_prod_abc123", "exe_stg_A-b_C-d", "exe_dev_testkey"] {
            let json = format!(r#"{{"apiKey": "{good}"}}"#);
            assert!(parse(&json, &[]).is_ok(), "{good}");
        }
    }
}
