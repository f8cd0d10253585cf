//! The plan of one (agent, tool) pair: what a call of that tool by that
//! agent needs, in policy order, computed once and cached.
//!
//! The tool-name violations depend only on the agent and the tool, so they
//! are built once; the argument rules that apply are listed by index, and
//! compiled together into combined matchers, one per (argument, kind)
//! (`matchers`). A call then costs a few hash lookups plus one match per
//! argument value, whatever the number of rules; when the plan has no
//! argument rules the arguments are never parsed.

use super::arguments::LazyArgs;
use super::compile::{CompiledPolicy, Effect};
use super::matchers::{group_key, ArgumentGroup, GroupMember, Matchers};
use super::rules::{unreadable_message, Failure, Lookup};
use super::values::{ArgumentLookup, ArgumentPlan, ArgumentValue};
use crate::agent::AgentIdentity;
use crate::decision::{Decision, Violation};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Plan ids, unique in the process: a host's cached lookups name the plan
/// they were read from (see `values`), and any new plan (a new policy set,
/// an agent resolved anew, a cache emptied) has a new id.
static NEXT_PLAN_ID: AtomicU64 = AtomicU64::new(1);

/// Most (agent, tool) plans kept per set; the cache is emptied when full.
pub(crate) const PLAN_CACHE_CAPACITY: usize = 4096;
/// Plans of agents or tools with longer names are not cached (their keys
/// would make a bounded number of entries an unbounded amount of memory).
pub(crate) const MAX_CACHED_KEY_LEN: usize = 512;

/// What one call of `tool` by one agent needs, in policy order.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) needs_server: bool,
    /// Every item of `steps` in order (a fixed violation, or one argument
    /// rule), numbered: violations come out in this order.
    slots: Box<[Slot]>,
    /// The slots of the fixed violations, in order.
    fixed: Box<[u32]>,
    /// The argument rules, grouped by (argument, kind).
    groups: Box<[ArgumentGroup]>,
    /// Identifies this plan (see `NEXT_PLAN_ID`).
    id: u64,
    /// The distinct lookups the groups read, and per group the index of
    /// its own (the values path).
    lookups: Box<[Lookup]>,
    group_lookup: Box<[u32]>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    /// `steps[i]`, a fixed violation.
    Fixed(usize),
    /// Rule `rule` of policy `policy`.
    Rule { policy: usize, rule: usize },
}

#[derive(Debug)]
pub(crate) enum Step {
    /// A tool-name violation (rule `deny` or `not_allowed`).
    Fixed {
        violation: Box<Violation>,
        effect: Effect,
    },
    /// Argument rules (indexes into the policy's rules) to check.
    Arguments { policy: usize, rules: Box<[usize]> },
}

/// agent external id → agent internal id → tool → plan. Nested so that
/// lookups borrow the caller's strings. Hashed with foldhash, not SipHash:
/// the lookup runs on every call (SipHash was a tenth of a decision's time),
/// and foldhash's per-process random seed still keeps made-up tool names
/// from being aimed at one bucket.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type PlanMap = FastMap<String, FastMap<Option<String>, FastMap<String, Arc<Plan>>>>;

#[derive(Default)]
pub(crate) struct PlanCache {
    map: PlanMap,
    pub(crate) len: usize,
}

impl PlanCache {
    pub(crate) fn get(&self, agent: &AgentIdentity, tool: &str) -> Option<Arc<Plan>> {
        self.map
            .get(agent.external.as_str())?
            .get(&agent.internal)?
            .get(tool)
            .cloned()
    }

    pub(crate) fn insert(&mut self, agent: &AgentIdentity, tool: &str, plan: Arc<Plan>) {
        if self.len >= PLAN_CACHE_CAPACITY {
            self.map.clear();
            self.len = 0;
        }
        let previous = self
            .map
            .entry(agent.external.clone())
            .or_default()
            .entry(agent.internal.clone())
            .or_default()
            .insert(tool.to_owned(), plan);
        if previous.is_none() {
            self.len += 1;
        }
    }
}

impl Plan {
    /// The plan for `tool` called by `agent`: `local` indexes the policies
    /// evaluated here, in order; `needs_server` is whether some policy
    /// scoped to the agent is decided by the control plane.
    pub(crate) fn build(
        policies: &[CompiledPolicy],
        local: &[usize],
        needs_server: bool,
        agent: &AgentIdentity,
        tool: &str,
        matchers: &Matchers,
    ) -> Plan {
        let mut steps = Vec::new();
        for &i in local {
            let policy = &policies[i];
            if !policy.scoped_to(agent) {
                continue;
            }
            let rules = policy
                .tool_rules
                .as_ref()
                .expect("local policies are tool_invocation");
            let effect = policy.effect();
            if rules.deny.iter().any(|p| p.matches(tool)) {
                let message = format!("tool {tool:?} is denied by policy {:?}", policy.name);
                steps.push(Step::Fixed {
                    violation: Box::new(violation(policy, tool, "deny", message, None)),
                    effect,
                });
            } else if rules.default_deny && !rules.allow.iter().any(|p| p.matches(tool)) {
                let message = format!(
                    "tool {tool:?} is not on the allowlist of policy {:?}",
                    policy.name
                );
                steps.push(Step::Fixed {
                    violation: Box::new(violation(policy, tool, "not_allowed", message, None)),
                    effect,
                });
            } else {
                let applicable: Box<[usize]> = rules
                    .arguments
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.applies_to(tool))
                    .map(|(j, _)| j)
                    .collect();
                if !applicable.is_empty() {
                    steps.push(Step::Arguments {
                        policy: i,
                        rules: applicable,
                    });
                }
            }
        }
        let mut slots = Vec::new();
        let mut fixed = Vec::new();
        // (argument, kind) → the rules that read it, with their slots.
        let mut grouped: Vec<Vec<GroupMember<'_>>> = Vec::new();
        let mut group_of: HashMap<(&str, u8), usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Fixed { .. } => {
                    fixed.push(slots.len() as u32);
                    slots.push(Slot::Fixed(i));
                }
                Step::Arguments { policy, rules } => {
                    let all = &policies[*policy]
                        .tool_rules
                        .as_ref()
                        .expect("local policies are tool_invocation")
                        .arguments;
                    for &rule in rules.iter() {
                        let slot = slots.len() as u32;
                        slots.push(Slot::Rule {
                            policy: *policy,
                            rule,
                        });
                        let key = group_key(&all[rule]);
                        let g = *group_of.entry(key).or_insert_with(|| {
                            grouped.push(Vec::new());
                            grouped.len() - 1
                        });
                        grouped[g].push((slot, (*policy, rule), &all[rule]));
                    }
                }
            }
        }
        let groups = grouped.iter().map(|rules| matchers.group(rules)).collect();
        // Rules of one argument share its lookup (the argument as written
        // says which), whatever their kinds.
        let mut lookups: Vec<Lookup> = Vec::new();
        let mut lookup_of: HashMap<&str, u32> = HashMap::new();
        let group_lookup = grouped
            .iter()
            .map(|rules| {
                let rule = rules[0].2;
                *lookup_of.entry(rule.argument()).or_insert_with(|| {
                    lookups.push(rule.lookup().clone());
                    (lookups.len() - 1) as u32
                })
            })
            .collect();
        Plan {
            steps,
            needs_server,
            slots: slots.into(),
            fixed: fixed.into(),
            groups,
            id: NEXT_PLAN_ID.fetch_add(1, Ordering::Relaxed),
            lookups: lookups.into(),
            group_lookup,
        }
    }

    /// What a host needs for the values path of this plan.
    pub(crate) fn argument_plan(&self) -> ArgumentPlan {
        ArgumentPlan {
            id: self.id,
            lookups: self.lookups.iter().map(ArgumentLookup::of).collect(),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// True when the call is allowed with nothing to report, given the
    /// values at this plan's lookups (`values[i]` at `lookups[i]`): no
    /// fixed violation, nothing for the server, and every argument rule
    /// passes. False says nothing: the full decision decides.
    pub(crate) fn allows_values(&self, values: &[ArgumentValue]) -> bool {
        if !self.fixed.is_empty() || self.needs_server || values.len() != self.lookups.len() {
            return false;
        }
        self.groups
            .iter()
            .zip(self.group_lookup.iter())
            .all(|(group, &l)| group.passes(&values[l as usize]))
    }

    /// The identities of the plan's compiled groups (tests of sharing).
    #[cfg(test)]
    pub(crate) fn group_ids(&self) -> Vec<usize> {
        self.groups.iter().map(ArgumentGroup::shared_id).collect()
    }

    /// True when some argument rule applies (the arguments are needed).
    pub(crate) fn has_argument_rules(&self) -> bool {
        !self.groups.is_empty()
    }

    /// The decision for one call: the plan's fixed violations, plus its
    /// argument rules checked against `args_json` (parsed only here), each
    /// group of rules at once.
    pub(crate) fn run(
        &self,
        policies: &[CompiledPolicy],
        tool: &str,
        args_json: Option<&str>,
    ) -> Decision {
        let mut decision = Decision {
            needs_server: self.needs_server,
            ..Decision::default()
        };
        if self.slots.is_empty() {
            return decision;
        }
        let mut failures: Vec<(u32, Failure)> = Vec::new();
        if !self.groups.is_empty() {
            let mut args = LazyArgs::new(args_json);
            match args.get() {
                // Unreadable arguments fail every rule, in order.
                Err(_) => return self.run_rule_by_rule(policies, tool, args_json),
                Ok(value) => {
                    for group in self.groups.iter() {
                        group.check(value, &mut failures);
                    }
                }
            }
            failures.sort_unstable_by_key(|(slot, _)| *slot);
        }
        // Merge the fixed violations and the rule failures, in slot order.
        let mut fixed = self.fixed.iter().peekable();
        let mut failed = failures.into_iter().peekable();
        loop {
            let next_fixed = fixed.peek().map(|&&s| s);
            let next_failed = failed.peek().map(|(s, _)| *s);
            let (v, effect) = match (next_fixed, next_failed) {
                (None, None) => break,
                (Some(f), r) if r.is_none_or(|r| f < r) => {
                    fixed.next();
                    let Slot::Fixed(i) = self.slots[f as usize] else {
                        unreachable!("fixed slots are fixed")
                    };
                    let Step::Fixed { violation, effect } = &self.steps[i] else {
                        unreachable!("fixed slots are fixed steps")
                    };
                    (Violation::clone(violation), *effect)
                }
                _ => {
                    let (slot, f) = failed.next().expect("peeked");
                    let Slot::Rule { policy, rule } = self.slots[slot as usize] else {
                        unreachable!("rule slots are rules")
                    };
                    let policy = &policies[policy];
                    let rule = &policy
                        .tool_rules
                        .as_ref()
                        .expect("local policies are tool_invocation")
                        .arguments[rule];
                    let message = f.message(rule.argument(), tool, &policy.name);
                    (
                        violation(policy, tool, "argument", message, Some(rule.argument())),
                        policy.effect(),
                    )
                }
            };
            decision.add(v, effect);
        }
        decision
    }

    /// The decision with every argument rule checked on its own, in order:
    /// for unreadable arguments, and the reference the combined matchers
    /// must agree with (tests).
    pub(crate) fn run_rule_by_rule(
        &self,
        policies: &[CompiledPolicy],
        tool: &str,
        args_json: Option<&str>,
    ) -> Decision {
        let plan = self;
        let mut decision = Decision {
            needs_server: plan.needs_server,
            ..Decision::default()
        };
        if plan.steps.is_empty() {
            return decision;
        }
        let mut args = LazyArgs::new(args_json);
        let mut push = |v: Violation, effect: Effect| decision.add(v, effect);
        for step in &plan.steps {
            match step {
                Step::Fixed { violation, effect } => push(Violation::clone(violation), *effect),
                Step::Arguments { policy, rules } => {
                    let policy = &policies[*policy];
                    let all = &policy
                        .tool_rules
                        .as_ref()
                        .expect("local policies are tool_invocation")
                        .arguments;
                    let effect = policy.effect();
                    for &r in rules.iter() {
                        let rule = &all[r];
                        let message = match args.get() {
                            Err(reason) => {
                                Some(unreadable_message(tool, &reason.to_string(), &policy.name))
                            }
                            Ok(value) => rule
                                .check(value)
                                .err()
                                .map(|f| f.message(rule.argument(), tool, &policy.name)),
                        };
                        if let Some(message) = message {
                            push(
                                violation(policy, tool, "argument", message, Some(rule.argument())),
                                effect,
                            );
                        }
                    }
                }
            }
        }
        decision
    }
}

/// A violation of `policy` by a call of `tool`.
fn violation(
    policy: &CompiledPolicy,
    tool: &str,
    rule: &str,
    message: String,
    argument: Option<&str>,
) -> Violation {
    Violation {
        policy_id: policy.id.clone(),
        policy_name: policy.name.clone(),
        policy_type: policy.policy_type.clone(),
        enforcement_mode: policy.mode.as_str().to_owned(),
        severity: policy.severity.clone(),
        message,
        tool: Some(tool.to_owned()),
        rule: Some(rule.to_owned()),
        argument: argument.map(str::to_owned),
        extra: Default::default(),
    }
}

impl Decision {
    /// Files a violation where its policy's effect says.
    fn add(&mut self, mut v: Violation, effect: Effect) {
        match effect {
            Effect::Block => self.violations.push(v),
            Effect::Warn => self.warnings.push(v),
            Effect::Approve => {
                v.rule = Some(APPROVAL_REQUIRED.to_owned());
                self.approvals.push(v);
            }
        }
    }
}

/// The `rule` of a violation that holds a call back for approval.
pub(crate) const APPROVAL_REQUIRED: &str = "approval_required";
