//! Checks only local policies (files and inline) get: a typo there is the
//! user's own mistake and must not load in silence (issue 19).
//!
//! - An unknown field is an error, with the known field it is closest to
//!   (`denny` → `deny`), or the level it belongs to (`deny` written next to
//!   `name` belongs in `ruleDefinition`). The control plane may add fields
//!   a newer server knows: there they are tolerated and counted
//!   ([`count_unknown_fields`], shown in `stats()`).
//! - An `appliesToAgents` or `ruleDefinition.agentId` entry that cannot be
//!   an agent id (`Ops-Agent`) is an error: it could never match, so the
//!   policy would apply to nobody.

use super::compile::TOOL_INVOCATION;
use super::error::{Location, PolicyError};
use super::load::SourcedPolicy;
use super::near_miss::closest;
use crate::agent::is_valid_agent_id;
use serde_json::{Map, Value};

const POLICY_FIELDS: &[&str] = &[
    "id",
    "name",
    "policyType",
    "enforcementMode",
    "isActive",
    "appliesToAgents",
    "severity",
    "ruleDefinition",
    // Metadata the control plane sends (and an exported policy keeps):
    // known, read by no rule.
    "description",
    "createdAt",
    "updatedAt",
];
const RULE_DEFINITION_FIELDS: &[&str] = &["agentId", "allow", "deny", "defaultAction", "arguments"];
const ARGUMENT_RULE_FIELDS: &[&str] = &[
    "tools",
    "argument",
    "kind",
    "caseInsensitive",
    "required",
    "allow",
    "deny",
    "min",
    "max",
];

/// One unknown field: its path in the policy and its key.
struct Unknown<'v> {
    path: String,
    key: &'v str,
    known: &'static [&'static str],
}

/// Every unknown field of `policy`, outermost first. A `ruleDefinition` is
/// only looked into for `tool_invocation` policies: other types' rule
/// definitions are the control plane's format.
fn unknown_fields(policy: &Map<String, Value>) -> Vec<Unknown<'_>> {
    let mut out = Vec::new();
    unknown_in(policy, "", POLICY_FIELDS, &mut out);
    if policy.get("policyType").and_then(Value::as_str) != Some(TOOL_INVOCATION) {
        return out;
    }
    let Some(Value::Object(rd)) = policy.get("ruleDefinition") else {
        return out;
    };
    unknown_in(rd, "ruleDefinition.", RULE_DEFINITION_FIELDS, &mut out);
    if let Some(Value::Array(rules)) = rd.get("arguments") {
        for (i, rule) in rules.iter().enumerate() {
            if let Value::Object(rule) = rule {
                let prefix = format!("ruleDefinition.arguments[{i}].");
                unknown_in(rule, &prefix, ARGUMENT_RULE_FIELDS, &mut out);
            }
        }
    }
    out
}

fn unknown_in<'v>(
    obj: &'v Map<String, Value>,
    prefix: &str,
    known: &'static [&'static str],
    out: &mut Vec<Unknown<'v>>,
) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            out.push(Unknown {
                path: format!("{prefix}{key}"),
                key,
                known,
            });
        }
    }
}

/// How many fields of these (control-plane) policies this SDK does not
/// know: tolerated, and counted so that `stats()` can show them.
pub fn count_unknown_fields(policies: &[Value]) -> u64 {
    policies
        .iter()
        .filter_map(Value::as_object)
        .map(|p| unknown_fields(p).len() as u64)
        .sum()
}

/// The first mistake of a local policy: an unknown field or an agent id
/// that can never match. Anything else (types, required fields) is left to
/// `compile`.
pub(crate) fn check_local(src: &SourcedPolicy) -> Result<(), PolicyError> {
    let Value::Object(obj) = &src.value else {
        return Ok(());
    };
    let at = &Location {
        file: src.file.as_deref(),
        name: obj
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty()),
        index: src.index,
    };
    if let Some(u) = unknown_fields(obj).into_iter().next() {
        return Err(at.err(&u.path, unknown_message(&u)));
    }
    if let Some(Value::Array(ids)) = obj.get("appliesToAgents") {
        for (i, id) in ids.iter().enumerate() {
            check_agent_id(at, &format!("appliesToAgents[{i}]"), id)?;
        }
    }
    if obj.get("policyType").and_then(Value::as_str) == Some(TOOL_INVOCATION) {
        if let Some(id) = obj.get("ruleDefinition").and_then(|rd| rd.get("agentId")) {
            check_agent_id(at, "ruleDefinition.agentId", id)?;
        }
    }
    Ok(())
}

fn unknown_message(u: &Unknown<'_>) -> String {
    if let Some(near) = closest(u.key, u.known) {
        return format!("unknown field {:?} (did you mean {near:?}?)", u.key);
    }
    // A field written at the wrong level: `deny` next to `name`.
    let level = if u.known == POLICY_FIELDS && RULE_DEFINITION_FIELDS.contains(&u.key) {
        Some("ruleDefinition")
    } else if u.known == RULE_DEFINITION_FIELDS && ARGUMENT_RULE_FIELDS.contains(&u.key) {
        Some("an entry of ruleDefinition.arguments")
    } else {
        None
    };
    match level {
        Some(level) => format!("unknown field {:?} here (it belongs in {level})", u.key),
        None => format!(
            "unknown field {:?} (expected one of: {})",
            u.key,
            u.known.join(", ")
        ),
    }
}

/// An id a policy may scope to: an external agent id (kebab-case, as users
/// write them: `ops-agent`) or an internal one as the control plane assigns
/// them (`agt_…`, a UUID). The empty `agentId` is left alone: it adds no
/// scope (see `compile.rs`).
fn check_agent_id(at: &Location<'_>, field: &str, id: &Value) -> Result<(), PolicyError> {
    let Some(id) = id.as_str() else {
        return Ok(()); // its type was checked when compiling
    };
    if (field == "ruleDefinition.agentId" && id.is_empty())
        || is_valid_agent_id(id)
        || looks_like_internal_id(id)
    {
        return Ok(());
    }
    let hint = kebab_case(id)
        .filter(|k| is_valid_agent_id(k))
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    Err(at.err(
        field,
        format!(
            "{id:?} cannot be an agent id{hint}: agent ids are lowercase kebab-case \
             (letters, digits and single hyphens, like \"ops-agent\"), so this policy \
             would apply to no agent"
        ),
    ))
}

/// `agt_ops`: a lowercase prefix, `_`, then letters, digits, `_` or `-`.
fn looks_like_internal_id(id: &str) -> bool {
    let Some((prefix, rest)) = id.split_once('_') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_lowercase())
        && !rest.is_empty()
        && rest.len() <= 128
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `Ops Agent` → `ops-agent`, for the hint.
fn kebab_case(id: &str) -> Option<String> {
    let words: Vec<String> = id
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    (!words.is_empty()).then(|| words.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(policy: Value) -> Result<(), String> {
        let src = SourcedPolicy {
            value: policy,
            file: None,
            index: 0,
        };
        check_local(&src).map_err(|e| e.to_string())
    }

    fn tp(extra: Value) -> Value {
        let mut p =
            json!({"name": "P", "policyType": "tool_invocation", "enforcementMode": "block"});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    }

    #[test]
    fn unknown_fields_name_the_closest_known_one() {
        let e = check(tp(json!({"ruleDefinition": {"denny": ["write_file"]}}))).unwrap_err();
        assert!(
            e.contains("ruleDefinition.denny") && e.contains("did you mean \"deny\"?"),
            "{e}"
        );
        let e = check(tp(json!({"appliesToAgent": []}))).unwrap_err();
        assert!(e.starts_with("policy \"P\": appliesToAgent:"), "{e}");
        assert!(e.contains("did you mean \"appliesToAgents\"?"), "{e}");
        let e = check(tp(
            json!({"ruleDefinition": {"arguments": [{"kind": "path", "argumnet": "p"}]}}),
        ))
        .unwrap_err();
        assert!(
            e.contains("ruleDefinition.arguments[0].argumnet") && e.contains("\"argument\""),
            "{e}"
        );
        let e = check(tp(json!({"deny": ["x"]}))).unwrap_err();
        assert!(e.contains("belongs in ruleDefinition"), "{e}");
        assert_eq!(
            check(tp(json!({"createdAt": "2026-12-07", "description": "d"}))),
            Ok(())
        );
        let e = check(tp(json!({"owner": "me"}))).unwrap_err();
        assert!(e.contains("expected one of: id, name"), "{e}");
    }

    #[test]
    fn other_types_rule_definitions_are_not_looked_into() {
        let p = json!({"name": "P", "policyType": "rbac", "enforcementMode": "block",
                       "ruleDefinition": {"roles": ["x"]}});
        assert_eq!(check(p.clone()), Ok(()));
        assert_eq!(count_unknown_fields(&[p]), 0);
    }

    #[test]
    fn control_plane_fields_are_counted() {
        let p = tp(
            json!({"createdBy": "x", "updatedAt": "y", "ruleDefinition": {"deny": [], "future": 1}}),
        );
        assert_eq!(count_unknown_fields(&[p, json!(5)]), 2);
    }

    #[test]
    fn agent_ids_that_cannot_match_are_errors() {
        let e = check(tp(json!({"appliesToAgents": ["ops-agent", "Ops-Agent"]}))).unwrap_err();
        assert!(
            e.contains("appliesToAgents[1]")
                && e.contains("\"Ops-Agent\" cannot be an agent id (did you mean \"ops-agent\"?)"),
            "{e}"
        );
        let e = check(tp(json!({"ruleDefinition": {"agentId": "ops agent"}}))).unwrap_err();
        assert!(e.contains("ruleDefinition.agentId"), "{e}");
        let e = check(tp(json!({"appliesToAgents": [""]}))).unwrap_err();
        assert!(e.contains("appliesToAgents[0]"), "{e}");
        for ok in [
            "ops-agent",
            "agt_1",
            "agt_ops-2",
            "3f2a6c1e-0000-4000-8000-000000000000",
        ] {
            assert_eq!(check(tp(json!({"appliesToAgents": [ok]}))), Ok(()), "{ok}");
            assert_eq!(
                check(tp(json!({"ruleDefinition": {"agentId": ok}}))),
                Ok(()),
                "{ok}"
            );
        }
        assert_eq!(
            check(tp(json!({"ruleDefinition": {"agentId": ""}}))),
            Ok(())
        );
    }
}
