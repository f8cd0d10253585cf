//! A raw policy (`raw.rs`) validated into a compiled policy, with errors
//! that name the file, the policy and the field.
//!
//! The serde types of `raw.rs` have checked every field's JSON type; this
//! stage checks what types cannot say: required fields, empty strings,
//! known modes and severities, and (for `tool_invocation` policies only)
//! the rule definition, whose argument rules `rules::` compiles kind by
//! kind.

use super::error::{Location, PolicyError};
use super::fields::{one_of, patterns, required_text};
use super::load::SourcedPolicy;
use super::raw::{self, RawPolicy, RawRuleDefinition, Text};
use super::rules::{ArgumentRule, Glob, RegexBudget};
use crate::agent::AgentIdentity;
use serde_json::Value;

/// The `policyType` evaluated locally.
pub(crate) const TOOL_INVOCATION: &str = "tool_invocation";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Block,
    HardBlock,
    Warn,
    LogOnly,
    Monitor,
    RequireApproval,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Block,
        Mode::HardBlock,
        Mode::Warn,
        Mode::LogOnly,
        Mode::Monitor,
        Mode::RequireApproval,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::HardBlock => "hard_block",
            Mode::Warn => "warn",
            Mode::LogOnly => "log_only",
            Mode::Monitor => "monitor",
            Mode::RequireApproval => "require_approval",
        }
    }

    /// A violation blocks the call.
    pub(crate) fn is_blocking(self) -> bool {
        matches!(self, Mode::Block | Mode::HardBlock)
    }
}

const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// One valid policy, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPolicy {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) policy_type: String,
    pub(crate) mode: Mode,
    pub(crate) active: bool,
    pub(crate) applies_to: Vec<String>,
    pub(crate) severity: Option<String>,
    /// `Some` exactly for `tool_invocation` policies.
    pub(crate) tool_rules: Option<ToolRules>,
    /// The policy as canonical JSON: breaks ties between policies with the
    /// same id and name so that the set's order never depends on input
    /// order.
    pub(crate) canonical: String,
    /// A local `tool_invocation` policy in `require_approval` mode: what it
    /// would block needs the client's approver instead (a control-plane one
    /// is the server's to decide, with its approval flow).
    pub(crate) approved_locally: bool,
}

/// What a violation of a policy does to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Block,
    Warn,
    /// Held back until the client's approver says yes.
    Approve,
}

impl CompiledPolicy {
    /// `require_approval` from the control plane: decided by the server
    /// even for tool_invocation.
    pub(crate) fn mode_is_server_only(&self) -> bool {
        self.mode == Mode::RequireApproval && !self.approved_locally
    }

    pub(crate) fn effect(&self) -> Effect {
        if self.mode.is_blocking() {
            Effect::Block
        } else if self.approved_locally {
            Effect::Approve
        } else {
            Effect::Warn
        }
    }

    /// Marks a local policy (file or inline): in `require_approval` mode,
    /// a `tool_invocation` policy is evaluated here, its approvals asked of
    /// the client's approver.
    pub(crate) fn marked_local(mut self) -> Self {
        self.approved_locally = self.mode == Mode::RequireApproval && self.tool_rules.is_some();
        self
    }

    pub(crate) fn scoped_to(&self, agent: &AgentIdentity) -> bool {
        (self.applies_to.is_empty() || self.applies_to.iter().any(|id| agent.is(id)))
            && match self.tool_rules.as_ref().and_then(|r| r.agent_id.as_deref()) {
                Some(id) => agent.is(id),
                None => true,
            }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ToolRules {
    pub(crate) agent_id: Option<String>,
    pub(crate) allow: Vec<Glob>,
    pub(crate) deny: Vec<Glob>,
    pub(crate) default_deny: bool,
    pub(crate) arguments: Vec<ArgumentRule>,
}

/// Validates and compiles one policy, charging its regexes to `budget`.
pub(crate) fn compile(
    src: &SourcedPolicy,
    budget: &mut RegexBudget,
) -> Result<CompiledPolicy, PolicyError> {
    let file = src.file.as_deref();
    let Value::Object(obj) = &src.value else {
        return Err(PolicyError::in_policy(
            file,
            None,
            src.index,
            None,
            format!(
                "a policy must be a JSON object, not {}",
                raw::type_name(&src.value)
            ),
        ));
    };
    // Errors name the policy as soon as it has a usable name, even when
    // another field (or the name's own type) is wrong.
    let usable_name = match obj.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        _ => None,
    };
    let at = Location {
        file,
        name: usable_name,
        index: src.index,
    };
    let policy: RawPolicy =
        raw::read(&src.value, "").map_err(|(field, message)| at.err(field, message))?;

    let name = required_text(&at, policy.name, "name")?;
    let policy_type = required_text(&at, policy.policy_type, "policyType")?;
    let mode = required_text(&at, policy.enforcement_mode, "enforcementMode")?;
    let mode_names = Mode::ALL.map(Mode::as_str);
    let mode_name = one_of(&at, "enforcementMode", &mode, &mode_names)?;
    let mode = Mode::ALL
        .into_iter()
        .find(|m| m.as_str() == mode_name)
        .expect("validated");
    let severity = match policy.severity {
        None => None,
        Some(Text(s)) => Some(one_of(&at, "severity", &s, &SEVERITIES)?.to_owned()),
    };
    let id = match policy.id {
        None => format!("local:{name}"),
        Some(Text(s)) if s.is_empty() => return Err(at.err("id", "must not be empty")),
        Some(Text(s)) => s,
    };
    let tool_rules = if policy_type == TOOL_INVOCATION {
        Some(compile_rule_definition(
            &at,
            policy.rule_definition,
            budget,
        )?)
    } else {
        None
    };

    Ok(CompiledPolicy {
        id,
        name,
        policy_type,
        mode,
        active: policy.is_active.is_none_or(|f| f.0),
        applies_to: policy
            .applies_to_agents
            .map(|l| l.0.into_iter().map(|t| t.0).collect())
            .unwrap_or_default(),
        severity,
        tool_rules,
        canonical: src.value.to_string(),
        approved_locally: false,
    })
}

fn compile_rule_definition(
    at: &Location<'_>,
    value: Option<Value>,
    budget: &mut RegexBudget,
) -> Result<ToolRules, PolicyError> {
    const RD: &str = "ruleDefinition";
    let rd: RawRuleDefinition = match &value {
        None => RawRuleDefinition::empty(),
        Some(v @ Value::Object(_)) => {
            raw::read(v, RD).map_err(|(field, message)| at.err(field, message))?
        }
        Some(v) => return Err(at.err(RD, format!("must be an object, not {}", raw::type_name(v)))),
    };
    // An empty agentId adds no scope (it cannot name an agent).
    let agent_id = rd.agent_id.map(|t| t.0).filter(|s| !s.is_empty());
    let tool_patterns = |list, key: &str| -> Result<Vec<Glob>, PolicyError> {
        Ok(patterns(at, list, &format!("{RD}.{key}"))?
            .iter()
            .map(|p| Glob::new(p, false))
            .collect())
    };
    let allow = tool_patterns(rd.allow, "allow")?;
    let deny = tool_patterns(rd.deny, "deny")?;
    let default_deny = match rd.default_action {
        None => !allow.is_empty(),
        Some(Text(action)) => {
            one_of(
                at,
                &format!("{RD}.defaultAction"),
                &action,
                &["allow", "deny"],
            )? == "deny"
        }
    };
    let arguments = rd
        .arguments
        .map(|l| l.0)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, rule)| ArgumentRule::compile(at, rule.0, &format!("{RD}.arguments[{i}]"), budget))
        .collect::<Result<_, _>>()?;
    Ok(ToolRules {
        agent_id,
        allow,
        deny,
        default_deny,
        arguments,
    })
}

/// Stands in for a control-plane policy this SDK cannot read (invalid
/// here, or written for a newer SDK): nothing about it is evaluated
/// locally, so the control plane must decide every call it may apply to.
/// Its scope is read leniently: `appliesToAgents` when it is a list of
/// strings, else every agent. `None` when it is plainly switched off
/// (`"isActive": false`), since then it applies to nobody.
pub(crate) fn server_decided(src: &SourcedPolicy) -> Option<CompiledPolicy> {
    let obj = src.value.as_object();
    let field = |k: &str| obj.and_then(|o| o.get(k));
    if field("isActive") == Some(&Value::Bool(false)) {
        return None;
    }
    let text = |k: &str| field(k).and_then(Value::as_str).map(str::to_owned);
    let applies_to = match field("appliesToAgents").and_then(Value::as_array) {
        Some(ids) if ids.iter().all(Value::is_string) => ids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let name = text("name").unwrap_or_else(|| format!("#{}", src.index));
    Some(CompiledPolicy {
        id: text("id").unwrap_or_else(|| format!("unreadable:{name}")),
        name,
        policy_type: text("policyType").unwrap_or_default(),
        mode: Mode::RequireApproval,
        active: true,
        applies_to,
        severity: None,
        tool_rules: None,
        canonical: src.value.to_string(),
        approved_locally: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn src(value: Value) -> SourcedPolicy {
        SourcedPolicy {
            value,
            file: Some(PathBuf::from("policies/fs.yaml")),
            index: 2,
        }
    }

    fn base() -> Value {
        json!({
            "name": "Filesystem guard",
            "policyType": "tool_invocation",
            "enforcementMode": "block",
            "ruleDefinition": {
                "allow": ["read_*"],
                "arguments": [
                    { "tools": ["read_*"], "argument": "path", "kind": "path",
                      "allow": ["/srv/**"] },
                    { "tools": ["refund"], "argument": "/order/amount", "kind": "number",
                      "min": 0, "max": 100 }
                ]
            }
        })
    }

    /// `base()` with `pointer` set to `value` (or removed when `None`).
    fn with(pointer: &str, value: Option<Value>) -> Value {
        let mut v = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() {
            &mut v
        } else {
            v.pointer_mut(parent).unwrap()
        };
        match (parent, value) {
            (Value::Array(items), Some(value)) => items[key.parse::<usize>().unwrap()] = value,
            (Value::Object(obj), Some(value)) => {
                obj.insert(key.to_owned(), value);
            }
            (Value::Object(obj), None) => {
                obj.remove(key);
            }
            _ => panic!("cannot edit {pointer}"),
        }
        v
    }

    fn compile(src: &SourcedPolicy) -> Result<CompiledPolicy, PolicyError> {
        super::compile(src, &mut RegexBudget::default())
    }

    fn error(value: Value) -> PolicyError {
        compile(&src(value)).expect_err("should be invalid")
    }

    #[track_caller]
    fn assert_error(value: Value, policy: &str, field: &str, message: &str) {
        let e = error(value);
        assert_eq!(e.file(), Some(Path::new("policies/fs.yaml")), "{e}");
        assert_eq!(e.policy().as_deref(), Some(policy), "{e}");
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(
            e.message().contains(message),
            "{e:?} should contain {message:?}"
        );
    }

    #[test]
    fn valid_policy_compiles_with_defaults() {
        let p = compile(&src(base())).unwrap();
        assert_eq!(p.id, "local:Filesystem guard");
        assert_eq!(p.name, "Filesystem guard");
        assert_eq!(p.policy_type, "tool_invocation");
        assert_eq!(p.mode, Mode::Block);
        assert!(p.active);
        assert!(p.applies_to.is_empty());
        assert_eq!(p.severity, None);
        let rules = p.tool_rules.unwrap();
        assert_eq!(rules.agent_id, None);
        assert!(rules.default_deny, "allow non-empty: default deny");
        assert_eq!(rules.allow.len(), 1);
        assert!(rules.deny.is_empty());
        assert_eq!(rules.arguments.len(), 2);
    }

    #[test]
    fn common_fields() {
        let p = compile(&src(json!({
            "id": "pol_1", "name": "N", "policyType": "tool_invocation",
            "enforcementMode": "warn", "isActive": false,
            "appliesToAgents": ["ops-agent", "agt_1"], "severity": "critical",
            "ruleDefinition": { "agentId": "ops-agent", "defaultAction": "deny" },
            "someFutureField": {"x": 1}
        })))
        .unwrap();
        assert_eq!(p.id, "pol_1");
        assert_eq!(p.mode, Mode::Warn);
        assert!(!p.active);
        assert_eq!(p.applies_to, ["ops-agent", "agt_1"]);
        assert_eq!(p.severity.as_deref(), Some("critical"));
        let rules = p.tool_rules.unwrap();
        assert_eq!(rules.agent_id.as_deref(), Some("ops-agent"));
        assert!(rules.default_deny);
    }

    #[test]
    fn every_mode_and_severity() {
        for mode in Mode::ALL {
            let p = compile(&src(with("/enforcementMode", Some(json!(mode.as_str()))))).unwrap();
            assert_eq!(p.mode, mode);
        }
        assert!(Mode::Block.is_blocking() && Mode::HardBlock.is_blocking());
        assert!(!Mode::Warn.is_blocking() && !Mode::LogOnly.is_blocking());
        assert!(!Mode::Monitor.is_blocking() && !Mode::RequireApproval.is_blocking());
        for s in ["low", "medium", "high", "critical"] {
            let p = compile(&src(with("/severity", Some(json!(s))))).unwrap();
            assert_eq!(p.severity.as_deref(), Some(s));
        }
    }

    #[test]
    fn nulls_are_absent_for_optional_fields() {
        let mut v = base();
        for key in ["id", "isActive", "appliesToAgents", "severity"] {
            v[key] = Value::Null;
        }
        v["ruleDefinition"]["agentId"] = Value::Null;
        v["ruleDefinition"]["defaultAction"] = Value::Null;
        let p = compile(&src(v)).unwrap();
        assert_eq!(p.id, "local:Filesystem guard");
        assert!(p.active);
        let p = compile(&src(with("/ruleDefinition", Some(Value::Null)))).unwrap();
        let rules = p.tool_rules.unwrap();
        assert!(!rules.default_deny && rules.allow.is_empty() && rules.arguments.is_empty());
    }

    #[test]
    fn default_action() {
        let rd = |v: Value| {
            compile(&src(with("/ruleDefinition", Some(v))))
                .unwrap()
                .tool_rules
                .unwrap()
        };
        assert!(!rd(json!({})).default_deny);
        assert!(!rd(json!({"allow": []})).default_deny);
        assert!(!rd(json!({"deny": ["x"]})).default_deny);
        assert!(rd(json!({"allow": ["x"]})).default_deny);
        assert!(!rd(json!({"allow": ["x"], "defaultAction": "allow"})).default_deny);
        assert!(rd(json!({"defaultAction": "deny"})).default_deny);
        // Empty agentId adds no scope.
        assert_eq!(rd(json!({"agentId": ""})).agent_id, None);
    }

    #[test]
    fn other_policy_types_check_common_fields_only() {
        let p = compile(&src(json!({
            "name": "PII", "policyType": "data_access", "enforcementMode": "block",
            "ruleDefinition": {"arguments": "not interpreted", "kind": 7}
        })))
        .unwrap();
        assert!(p.tool_rules.is_none());
        assert_eq!(p.policy_type, "data_access");
        assert_error(
            json!({"name": "PII", "policyType": "data_access", "enforcementMode": "blocky"}),
            "PII",
            "enforcementMode",
            "unknown enforcementMode \"blocky\"",
        );
    }

    #[test]
    fn not_an_object() {
        let e = error(json!(["x"]));
        assert_eq!(e.policy().as_deref(), Some("#2"));
        assert_eq!(e.field(), None);
        assert!(e.message().contains("must be a JSON object"));
    }

    #[test]
    fn missing_and_bad_name_use_the_index() {
        assert_error(with("/name", None), "#2", "name", "is required");
        assert_error(
            with("/name", Some(json!(""))),
            "#2",
            "name",
            "must not be empty",
        );
        assert_error(
            with("/name", Some(json!("  "))),
            "#2",
            "name",
            "must not be empty",
        );
        assert_error(
            with("/name", Some(json!(5))),
            "#2",
            "name",
            "must be a string, not number",
        );
        assert_error(
            with("/name", Some(Value::Null)),
            "#2",
            "name",
            "is required",
        );
        let e = error(with("/name", None));
        assert_eq!(
            e.to_string(),
            "policies/fs.yaml: policy #2: name: is required"
        );
    }

    #[test]
    fn required_common_fields() {
        let g = "Filesystem guard";
        assert_error(with("/policyType", None), g, "policyType", "is required");
        assert_error(
            with("/policyType", Some(json!(""))),
            g,
            "policyType",
            "must not be empty",
        );
        assert_error(
            with("/policyType", Some(json!([]))),
            g,
            "policyType",
            "must be a string, not array",
        );
        assert_error(
            with("/enforcementMode", None),
            g,
            "enforcementMode",
            "is required",
        );
        assert_error(
            with("/enforcementMode", Some(json!("Block"))),
            g,
            "enforcementMode",
            "unknown enforcementMode \"Block\" (expected block, hard_block, warn, log_only, monitor or require_approval)",
        );
        assert_error(
            with("/enforcementMode", Some(json!(1))),
            g,
            "enforcementMode",
            "must be a string",
        );
    }

    #[test]
    fn optional_common_fields_wrong_types() {
        let g = "Filesystem guard";
        assert_error(
            with("/isActive", Some(json!("yes"))),
            g,
            "isActive",
            "must be a boolean, not string",
        );
        assert_error(
            with("/appliesToAgents", Some(json!("ops"))),
            g,
            "appliesToAgents",
            "must be an array of strings",
        );
        assert_error(
            with("/appliesToAgents", Some(json!(["a", 1]))),
            g,
            "appliesToAgents[1]",
            "must be a string, not number",
        );
        assert_error(
            with("/severity", Some(json!("urgent"))),
            g,
            "severity",
            "unknown severity \"urgent\" (expected low, medium, high or critical)",
        );
        assert_error(
            with("/severity", Some(json!(3))),
            g,
            "severity",
            "must be a string",
        );
        assert_error(
            with("/id", Some(json!(12))),
            g,
            "id",
            "must be a string, not number",
        );
        assert_error(with("/id", Some(json!(""))), g, "id", "must not be empty");
    }

    #[test]
    fn rule_definition_errors() {
        let g = "Filesystem guard";
        assert_error(
            with("/ruleDefinition", Some(json!([]))),
            g,
            "ruleDefinition",
            "must be an object, not array",
        );
        assert_error(
            with("/ruleDefinition/agentId", Some(json!(1))),
            g,
            "ruleDefinition.agentId",
            "must be a string",
        );
        assert_error(
            with("/ruleDefinition/allow", Some(json!("read_*"))),
            g,
            "ruleDefinition.allow",
            "must be an array of strings, not string",
        );
        assert_error(
            with("/ruleDefinition/allow", Some(json!(["a", ""]))),
            g,
            "ruleDefinition.allow[1]",
            "must not be empty",
        );
        assert_error(
            with("/ruleDefinition/deny", Some(json!([null]))),
            g,
            "ruleDefinition.deny[0]",
            "must be a string, not null",
        );
        assert_error(
            with("/ruleDefinition/defaultAction", Some(json!("block"))),
            g,
            "ruleDefinition.defaultAction",
            "unknown defaultAction \"block\" (expected allow or deny)",
        );
        assert_error(
            with("/ruleDefinition/arguments", Some(json!({}))),
            g,
            "ruleDefinition.arguments",
            "must be an array of argument rules, not object",
        );
        assert_error(
            with("/ruleDefinition/arguments", Some(json!([1]))),
            g,
            "ruleDefinition.arguments[0]",
            "must be an object, not number",
        );
    }

    #[test]
    fn argument_rule_errors() {
        let g = "Filesystem guard";
        let a0 = "/ruleDefinition/arguments/0";
        let a1 = "/ruleDefinition/arguments/1";
        let f0 = "ruleDefinition.arguments[0]";
        let f1 = "ruleDefinition.arguments[1]";
        let cases: Vec<(String, Option<Value>, String, &str)> = vec![
            (
                format!("{a0}/kind"),
                Some(json!("paht")),
                format!("{f0}.kind"),
                "unknown kind \"paht\" (expected path, glob, regex or number)",
            ),
            (
                format!("{a0}/kind"),
                None,
                format!("{f0}.kind"),
                "is required",
            ),
            (
                format!("{a0}/tools"),
                None,
                format!("{f0}.tools"),
                "is required",
            ),
            (
                format!("{a0}/tools"),
                Some(json!([])),
                format!("{f0}.tools"),
                "at least one",
            ),
            (
                format!("{a0}/tools"),
                Some(json!("read_*")),
                format!("{f0}.tools"),
                "must be an array of strings",
            ),
            (
                format!("{a0}/tools"),
                Some(json!(["x", ""])),
                format!("{f0}.tools[1]"),
                "must not be empty",
            ),
            (
                format!("{a0}/argument"),
                None,
                format!("{f0}.argument"),
                "is required",
            ),
            (
                format!("{a0}/argument"),
                Some(json!("")),
                format!("{f0}.argument"),
                "must not be empty",
            ),
            (
                format!("{a0}/argument"),
                Some(json!(["path"])),
                format!("{f0}.argument"),
                "must be a string",
            ),
            (
                format!("{a0}/argument"),
                Some(json!("/a~2b")),
                format!("{f0}.argument"),
                "invalid JSON Pointer",
            ),
            (
                format!("{a0}/argument"),
                Some(json!("/a~")),
                format!("{f0}.argument"),
                "invalid JSON Pointer",
            ),
            (
                format!("{a0}/allow"),
                Some(json!(["/srv/**", ""])),
                format!("{f0}.allow[1]"),
                "must not be empty",
            ),
            (
                format!("{a0}/deny"),
                Some(json!("/etc/**")),
                format!("{f0}.deny"),
                "must be an array of strings",
            ),
            (
                format!("{a0}/min"),
                Some(json!(1)),
                format!("{f0}.min"),
                "only for number rules",
            ),
            (
                format!("{a0}/caseInsensitive"),
                Some(json!("yes")),
                format!("{f0}.caseInsensitive"),
                "must be a boolean",
            ),
            (
                format!("{a0}/required"),
                Some(json!(1)),
                format!("{f0}.required"),
                "must be a boolean",
            ),
            (
                format!("{a1}/min"),
                Some(json!(101)),
                format!("{f1}.min"),
                "min 101 is above max 100",
            ),
            (
                format!("{a1}/max"),
                Some(json!("100")),
                format!("{f1}.max"),
                "must be a number, not string",
            ),
            (
                format!("{a1}/min"),
                Some(json!(true)),
                format!("{f1}.min"),
                "must be a number, not boolean",
            ),
            (
                format!("{a1}/allow"),
                Some(json!(["1"])),
                format!("{f1}.allow"),
                "only for path, glob and regex",
            ),
            (
                format!("{a1}/deny"),
                Some(json!([])),
                format!("{f1}.deny"),
                "only for path, glob and regex",
            ),
        ];
        for (pointer, value, field, message) in cases {
            assert_error(with(&pointer, value), g, &field, message);
        }
    }

    #[test]
    fn regex_rules() {
        let rule = |allow: Value, ci: bool| {
            with(
                "/ruleDefinition/arguments/0",
                Some(json!({"tools": ["q"], "argument": "sql", "kind": "regex",
                            "allow": allow, "caseInsensitive": ci})),
            )
        };
        compile(&src(rule(json!([r"^\s*select\b"]), true))).unwrap();
        assert_error(
            rule(json!(["ok", "(unclosed"]), false),
            "Filesystem guard",
            "ruleDefinition.arguments[0].allow[1]",
            "invalid regex",
        );
        let e = error(rule(json!(["(unclosed"]), false));
        assert!(!e.to_string().contains('\n'), "{e}");
        // Too big for the size limit.
        assert_error(
            rule(json!([r"\w{1000}\w{1000}\w{1000}"]), false),
            "Filesystem guard",
            "ruleDefinition.arguments[0].allow[0]",
            "invalid regex",
        );
    }

    #[test]
    fn an_empty_argument_allow_list_is_refused_not_read_as_no_list() {
        // `allow: []` reads as "nothing is allowed" to some and as "no
        // allowlist" to others; the engine once took the second reading and
        // let every value through. Neither guess is safe: refuse it.
        for kind in ["path", "glob", "regex"] {
            assert_error(
                with(
                    "/ruleDefinition/arguments/0",
                    Some(json!({"tools": ["t"], "argument": "a", "kind": kind, "allow": []})),
                ),
                "Filesystem guard",
                "ruleDefinition.arguments[0].allow",
                "is empty",
            );
        }
        // An empty deny list denies nothing, as one would read it.
        compile(&src(with(
            "/ruleDefinition/arguments/0",
            Some(json!({"tools": ["t"], "argument": "a", "kind": "glob", "deny": []})),
        )))
        .unwrap();
    }

    #[test]
    fn number_rule_without_bounds_and_min_equal_max() {
        let v = with(
            "/ruleDefinition/arguments/1",
            Some(json!({"tools": ["t"], "argument": "n", "kind": "number"})),
        );
        compile(&src(v)).unwrap();
        let v = with(
            "/ruleDefinition/arguments/1",
            Some(json!({"tools": ["t"], "argument": "n", "kind": "number", "min": 5, "max": 5})),
        );
        compile(&src(v)).unwrap();
    }

    #[test]
    fn inline_policy_errors_have_no_file() {
        let e = compile(&SourcedPolicy {
            value: with("/enforcementMode", Some(json!("nope"))),
            file: None,
            index: 0,
        })
        .unwrap_err();
        assert_eq!(e.file(), None);
        assert!(
            e.to_string()
                .starts_with("policy \"Filesystem guard\": enforcementMode: "),
            "{e}"
        );
    }
}
