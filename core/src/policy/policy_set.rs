//! A compiled set of policies and the decision for one call.
//!
//! Everything is compiled once. For each (agent, tool) pair the set keeps,
//! in a small bounded cache, the call's plan (`plan.rs`).

use super::compile::{compile, server_decided, CompiledPolicy};
use super::error::PolicyError;
use super::load::SourcedPolicy;
use super::local_checks::check_local;
use super::local_type::{local_type_problem, ControlPlane};
use super::matchers::Matchers;
#[cfg(test)]
use super::plan::Step;
use super::plan::{Plan, PlanCache, MAX_CACHED_KEY_LEN};
use super::rules::RegexBudget;
use super::values::{ArgumentPlan, ArgumentValue, ValuesVerdict};
use crate::agent::AgentIdentity;
use crate::decision::Decision;
use std::fmt;
use std::sync::{Arc, RwLock};

/// A compiled, immutable set of policies. Cheap to share (`Send + Sync`);
/// clones share the compiled policies but not the plan cache.
pub struct PolicySet {
    /// Sorted by (id, name, canonical JSON), so that evaluation order, and
    /// so the order of violations, never depends on input order.
    policies: Arc<[CompiledPolicy]>,
    /// Indexes of active `tool_invocation` policies not in
    /// `require_approval` mode.
    local: Arc<[usize]>,
    /// Indexes of active policies the server decides.
    server: Arc<[usize]>,
    cache: RwLock<PlanCache>,
    /// The plans' combined matchers (shared between plans with the same
    /// rules), and the memory they may take together.
    matchers: Arc<Matchers>,
}

impl Default for PolicySet {
    fn default() -> Self {
        Self::empty()
    }
}

impl Clone for PolicySet {
    fn clone(&self) -> Self {
        Self {
            policies: Arc::clone(&self.policies),
            local: Arc::clone(&self.local),
            server: Arc::clone(&self.server),
            cache: RwLock::default(),
            matchers: Arc::default(),
        }
    }
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field(
                "policies",
                &self
                    .policies
                    .iter()
                    .map(|p| (&p.id, &p.name))
                    .collect::<Vec<_>>(),
            )
            .field("local_len", &self.local.len())
            .finish_non_exhaustive()
    }
}

impl PolicySet {
    pub fn empty() -> Self {
        Self::from_compiled(Vec::new())
    }

    /// Local policies in local mode (no control plane): the first invalid
    /// policy is an error, and so is any `policyType` but
    /// `tool_invocation`, which nothing could evaluate.
    pub fn compile_strict(policies: &[SourcedPolicy]) -> Result<PolicySet, PolicyError> {
        Self::compile_strict_with(policies, ControlPlane::Absent)
    }

    /// Local policies: the first invalid policy is an error, and so is an
    /// unknown field or an agent id that can never match (`local_checks`).
    /// With a control
    /// plane, a policy of a server-side type is kept (its agents' calls
    /// need the control plane's decision); see [`ControlPlane`].
    pub fn compile_strict_with(
        policies: &[SourcedPolicy],
        control_plane: ControlPlane,
    ) -> Result<PolicySet, PolicyError> {
        let mut budget = RegexBudget::default();
        let compiled = policies
            .iter()
            .map(|src| {
                // First: a misspelt required field is better named by its
                // near miss than by "is required".
                check_local(src)?;
                let policy = compile(src, &mut budget)?.marked_local();
                match local_type_problem(&policy.policy_type, control_plane) {
                    None => Ok(policy),
                    Some(message) => Err(PolicyError::in_policy(
                        src.file.as_deref(),
                        Some(&policy.name),
                        src.index,
                        Some("policyType".into()),
                        message,
                    )),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::from_compiled(compiled))
    }

    /// Control-plane policies: the valid ones apply; the errors of the
    /// invalid ones are returned, and each invalid one is left to the
    /// server (see [`server_decided`]): skipping it would silently drop
    /// whatever it guards for the agents it applies to.
    pub fn compile_lenient(policies: &[SourcedPolicy]) -> (PolicySet, Vec<PolicyError>) {
        let mut compiled = Vec::with_capacity(policies.len());
        let mut errors = Vec::new();
        let mut budget = RegexBudget::default();
        for policy in policies {
            // A policy that fails gives back what its regexes took.
            let before = budget.clone();
            match compile(policy, &mut budget) {
                Ok(p) => compiled.push(p),
                Err(e) => {
                    budget = before;
                    compiled.extend(server_decided(policy));
                    errors.push(e);
                }
            }
        }
        (Self::from_compiled(compiled), errors)
    }

    /// This set with `other`'s policies added: every rule of both applies.
    /// For an answer none of whose policies can be read: the last readable
    /// set stays in force and the server decides what the unreadable ones
    /// may cover, so that garbage only ever tightens what is checked.
    pub fn merged_with(&self, other: &PolicySet) -> PolicySet {
        Self::from_compiled(
            self.policies
                .iter()
                .chain(other.policies.iter())
                .cloned()
                .collect(),
        )
    }

    fn from_compiled(mut policies: Vec<CompiledPolicy>) -> Self {
        policies
            .sort_by(|a, b| (&a.id, &a.name, &a.canonical).cmp(&(&b.id, &b.name, &b.canonical)));
        let local = policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.active && p.tool_rules.is_some() && !p.mode_is_server_only())
            .map(|(i, _)| i)
            .collect();
        let server = policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.active && (p.tool_rules.is_none() || p.mode_is_server_only()))
            .map(|(i, _)| i)
            .collect();
        Self {
            policies: policies.into(),
            local,
            server,
            cache: RwLock::default(),
            matchers: Arc::default(),
        }
    }

    /// Number of policies kept (all types, active or not).
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Number of policies evaluated locally (active tool_invocation, not
    /// require_approval).
    pub fn local_len(&self) -> usize {
        self.local.len()
    }

    /// True when some active policy scoped to this agent is not evaluated
    /// locally (policyType other than tool_invocation, or enforcementMode
    /// require_approval).
    pub fn needs_server(&self, agent: &AgentIdentity) -> bool {
        self.server
            .iter()
            .any(|&i| self.policies[i].scoped_to(agent))
    }

    /// True when an active policy of `policy_type` (a server type such as
    /// `tool_output_scan`) is scoped to this agent.
    pub fn has_server_type(&self, agent: &AgentIdentity, policy_type: &str) -> bool {
        self.server.iter().any(|&i| {
            let p = &self.policies[i];
            p.policy_type == policy_type && p.scoped_to(agent)
        })
    }

    /// The decision for one call. `args_json` is the JSON text of the
    /// call's arguments (None: no arguments). It is parsed lazily, only
    /// when an argument rule applies to `tool`.
    pub fn evaluate(&self, agent: &AgentIdentity, tool: &str, args_json: Option<&str>) -> Decision {
        if self.local.is_empty() && self.server.is_empty() {
            return Decision::default();
        }
        let plan = self.plan(agent, tool);
        plan.run(&self.policies, tool, args_json)
    }

    /// The decision for a call when its tool name alone decides it; `None`
    /// when an argument rule applies to `tool` for this agent, so the
    /// arguments are needed ([`PolicySet::evaluate`]). Lets a host skip
    /// serialising the arguments for the many tools no argument rule names.
    pub fn evaluate_tool(&self, agent: &AgentIdentity, tool: &str) -> Option<Decision> {
        if self.local.is_empty() && self.server.is_empty() {
            return Some(Decision::default());
        }
        let plan = self.plan(agent, tool);
        if plan.has_argument_rules() {
            return None;
        }
        Some(plan.run(&self.policies, tool, None))
    }

    /// What the values path of `tool` called by `agent` needs (see
    /// `values`): the plan's id and the lookups whose values it takes.
    pub fn argument_plan(&self, agent: &AgentIdentity, tool: &str) -> ArgumentPlan {
        self.plan(agent, tool).argument_plan()
    }

    /// The values path: whether the call is allowed with nothing to
    /// report, given the values read at the lookups of plan `plan_id`.
    /// Only [`ValuesVerdict::Clean`] is an answer; the full decision
    /// ([`PolicySet::evaluate`]) takes every other call.
    pub fn evaluate_values(
        &self,
        agent: &AgentIdentity,
        tool: &str,
        plan_id: u64,
        values: &[ArgumentValue],
    ) -> ValuesVerdict {
        let plan = self.plan(agent, tool);
        if plan.id() != plan_id {
            ValuesVerdict::Stale
        } else if plan.allows_values(values) {
            ValuesVerdict::Clean
        } else {
            ValuesVerdict::NeedsFull
        }
    }

    /// `evaluate` without the plan cache (the reference the cache must
    /// agree with).
    #[cfg(test)]
    fn evaluate_uncached(
        &self,
        agent: &AgentIdentity,
        tool: &str,
        args_json: Option<&str>,
    ) -> Decision {
        self.build_plan(agent, tool)
            .run(&self.policies, tool, args_json)
    }

    /// `evaluate` with every argument rule checked on its own (the
    /// reference the combined matchers must agree with).
    #[cfg(test)]
    pub(crate) fn evaluate_rule_by_rule(
        &self,
        agent: &AgentIdentity,
        tool: &str,
        args_json: Option<&str>,
    ) -> Decision {
        self.plan(agent, tool)
            .run_rule_by_rule(&self.policies, tool, args_json)
    }

    fn build_plan(&self, agent: &AgentIdentity, tool: &str) -> Plan {
        Plan::build(
            &self.policies,
            &self.local,
            self.needs_server(agent),
            agent,
            tool,
            &self.matchers,
        )
    }

    fn plan(&self, agent: &AgentIdentity, tool: &str) -> Arc<Plan> {
        let cacheable = tool.len() <= MAX_CACHED_KEY_LEN
            && agent.external.len() + agent.internal.as_ref().map_or(0, String::len)
                <= MAX_CACHED_KEY_LEN;
        if !cacheable {
            return Arc::new(self.build_plan(agent, tool));
        }
        let cached = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent, tool);
        if let Some(plan) = cached {
            return plan;
        }
        let plan = Arc::new(self.build_plan(agent, tool));
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent, tool, Arc::clone(&plan));
        plan
    }
}

#[cfg(test)]
mod tests {
    //! What needs the set's insides (the plan, its cache); the behaviour
    //! of evaluation is tested in `tests/policy_evaluation.rs`.
    use super::super::plan::PLAN_CACHE_CAPACITY;
    use super::*;
    use serde_json::{json, Value};

    fn sourced(values: &[Value]) -> Vec<SourcedPolicy> {
        SourcedPolicy::from_values(values.iter().cloned())
    }

    /// Local policies beside a control plane, so that server-side types are
    /// kept (without one they are errors: `tests/policy_types.rs`).
    fn set(values: &[Value]) -> PolicySet {
        PolicySet::compile_strict_with(&sourced(values), ControlPlane::Present)
            .expect("valid policies")
    }

    fn agent(external: &str) -> AgentIdentity {
        AgentIdentity::new(external)
    }

    /// A tool_invocation policy in block mode with this ruleDefinition.
    fn tp(name: &str, rd: Value) -> Value {
        json!({
            "id": format!("pol_{name}"),
            "name": name,
            "policyType": "tool_invocation",
            "enforcementMode": "block",
            "ruleDefinition": rd,
        })
    }

    /// Evaluates with and without the plan cache (twice with it) and checks
    /// they agree.
    fn eval(s: &PolicySet, a: &AgentIdentity, tool: &str, args: Option<&str>) -> Decision {
        let reference = s.evaluate_uncached(a, tool, args);
        let first = s.evaluate(a, tool, args);
        let second = s.evaluate(a, tool, args);
        assert_eq!(first, reference, "cached plan differs from uncached");
        assert_eq!(second, reference, "second cached evaluation differs");
        // What the tool name alone decides, whatever the arguments, must be
        // the full decision.
        if let Some(by_tool) = s.evaluate_tool(a, tool) {
            assert_eq!(
                by_tool, reference,
                "decision on the tool name alone differs"
            );
        }
        reference
    }

    /// The policy format's own example, shared with `core/tests/`.
    fn example() -> Value {
        serde_json::from_str(include_str!("../../tests/data/documented_example.json")).unwrap()
    }

    #[test]
    fn args_are_not_parsed_without_applicable_rules() {
        // White-box: a plan without argument steps never touches the text.
        let s = set(&[tp(
            "P",
            json!({"deny": ["rm"], "arguments": [
                {"tools": ["cat"], "argument": "path", "kind": "path"}
            ]}),
        )]);
        let plan = s.plan(&agent("a"), "ls");
        assert!(plan.steps.is_empty());
        let plan = s.plan(&agent("a"), "cat");
        assert!(matches!(plan.steps[..], [Step::Arguments { .. }]));
        let plan = s.plan(&agent("a"), "rm");
        assert!(matches!(plan.steps[..], [Step::Fixed { .. }]));
    }

    #[test]
    fn plans_with_the_same_argument_rules_share_their_matchers() {
        // A tool name made up per call must not build its matchers anew
        // (milliseconds for a large set): plans with the same rules share.
        let s = set(&[
            tp(
                "P",
                json!({"arguments": [
                    {"tools": ["*"], "argument": "path", "kind": "path", "allow": ["/srv/**"]},
                    {"tools": ["read_*"], "argument": "n", "kind": "number", "max": 3}
                ]}),
            ),
            tp(
                "Q",
                json!({"arguments": [
                    {"tools": ["*"], "argument": "path", "kind": "path", "deny": ["/etc/**"]}
                ]}),
            ),
        ]);
        let a = agent("a");
        let made_up = s.plan(&a, "tool_1").group_ids();
        assert_eq!(made_up.len(), 1);
        assert_eq!(s.plan(&a, "tool_2").group_ids(), made_up);
        // Another rule set: a group of its own, and the path group shared.
        let read = s.plan(&a, "read_x").group_ids();
        assert_eq!(read.len(), 2);
        assert!(read.contains(&made_up[0]));
        assert!(eval(&s, &a, "tool_3", Some(r#"{"path": "/etc/x"}"#)).is_blocked());
        assert!(eval(&s, &a, "tool_4", Some(r#"{"path": "/srv/x"}"#)).is_clean());
    }

    #[test]
    fn plan_cache_is_bounded_and_consistent() {
        let s = set(&[tp("P", json!({"allow": ["t1*"]}))]);
        let a = agent("a");
        for i in 0..(PLAN_CACHE_CAPACITY + 10) {
            let tool = format!("t{i}");
            let d = s.evaluate(&a, &tool, None);
            assert_eq!(d.is_blocked(), !tool.starts_with("t1"), "{tool}");
        }
        assert!(s.cache.read().unwrap().len <= PLAN_CACHE_CAPACITY);
        // Long names are evaluated without caching.
        let long = "t1".to_owned() + &"x".repeat(MAX_CACHED_KEY_LEN);
        assert!(eval(&s, &a, &long, None).is_clean());
        let long_agent = agent(&"a".repeat(MAX_CACHED_KEY_LEN + 1));
        assert!(eval(&s, &long_agent, "x", None).is_blocked());
    }

    #[test]
    #[ignore = "timing; run with --ignored in a release-like setting"]
    fn speed_smoke() {
        let mut policies: Vec<Value> = (0..18)
            .map(|i| {
                tp(
                    &format!("P{i}"),
                    json!({"deny": [format!("tool_{i}_*"), "rm"]}),
                )
            })
            .collect();
        policies.push(example());
        policies.push(tp("Args", json!({"arguments": [
            {"tools": ["read_*"], "argument": "path", "kind": "path", "deny": ["/etc/**", "**/.ssh/**"], "allow": ["/srv/data/**"]}
        ]})));
        let s = set(&policies);
        let a = agent("ops-agent");
        let web = agent("web-agent");
        let n = 200_000;
        assert!(s.plan(&web, "list_things").steps.is_empty());
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(s.evaluate(&web, "list_things", Some(r#"{"x": 1}"#)));
        }
        eprintln!("no argument rule: {:?}/call", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(s.evaluate(
                &a,
                "read_text_file",
                Some(r#"{"path": "/srv/data/a/b.txt"}"#),
            ));
        }
        eprintln!("path rules: {:?}/call", t.elapsed() / n);
    }
}
