//! Combined matchers: the argument rules of one plan that read the same
//! argument with the same kind, checked together.
//!
//! A call then costs about the length of its values plus the number of
//! patterns that match, not the number of rules (issue 11). What each rule
//! decides is exactly what it decides alone (`rules::ArgumentRule::check`,
//! the reference the tests compare with): the same failure, the same array
//! element, for every rule that fails.

mod combined_dfa;
#[cfg(test)]
mod differential_tests;
mod lists;
mod numbers;

use super::rules::{ArgumentRule, Check, Failure, FailureKind, Lookup};
use super::values::ArgumentValue;
use combined_dfa::MatcherBudget;
use lists::Lists;
use numbers::Numbers;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The rules of one group in a plan: `slots` says where each
/// (group-local id) is in the plan (the order of violations).
#[derive(Debug)]
pub(crate) struct ArgumentGroup {
    slots: Box<[u32]>,
    rules: Arc<GroupRules>,
}

/// A group's rules compiled together; shared by every plan with the same
/// rules (so a tool name made up per call reuses the matchers of the last
/// one instead of building its own).
#[derive(Debug)]
pub(crate) struct GroupRules {
    lookup: Lookup,
    required: Box<[u32]>,
    matcher: Matcher,
}

/// A rule of a plan's group: its plan slot, its (policy, rule) indexes,
/// the rule.
pub(crate) type GroupMember<'a> = (u32, RuleId, &'a ArgumentRule);
/// (policy index, rule index) of an argument rule in its set.
pub(crate) type RuleId = (usize, usize);

/// Most groups kept for reuse per policy set; emptied when full (plans
/// keep theirs).
const SHARED_GROUPS: usize = 1024;

/// The combined matchers of one policy set: the memory they may take, and
/// the groups already built, by their rules ((policy, rule) indexes).
#[derive(Debug, Default)]
pub(crate) struct Matchers {
    budget: MatcherBudget,
    built: Mutex<HashMap<Box<[RuleId]>, Arc<GroupRules>>>,
}

impl Matchers {
    /// The group of `rules` (same [`group_key`]), each with its plan slot
    /// and its (policy, rule) indexes.
    pub(crate) fn group(&self, rules: &[GroupMember<'_>]) -> ArgumentGroup {
        let key: Box<[RuleId]> = rules.iter().map(|(_, id, _)| *id).collect();
        let slots = rules.iter().map(|(slot, _, _)| *slot).collect();
        let cached = self
            .built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let shared = cached.unwrap_or_else(|| {
            // Built outside the lock: a large group takes milliseconds.
            let refs: Vec<&ArgumentRule> = rules.iter().map(|(_, _, r)| *r).collect();
            let built = Arc::new(GroupRules::build(&refs, &self.budget));
            let mut map = self.built.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= SHARED_GROUPS {
                map.clear();
            }
            Arc::clone(map.entry(key).or_insert(built))
        });
        ArgumentGroup {
            slots,
            rules: shared,
        }
    }
}

#[derive(Debug)]
enum Matcher {
    Lists(Box<Lists>),
    Numbers(Numbers),
}

/// What a group is keyed by: the argument as written, and the kind.
pub(crate) fn group_key(rule: &ArgumentRule) -> (&str, u8) {
    let kind = match rule.kind_check() {
        Check::Path { .. } => 0,
        Check::Glob { .. } => 1,
        Check::Regex { .. } => 2,
        Check::Number { .. } => 3,
    };
    (rule.argument(), kind)
}

impl GroupRules {
    fn build(rules: &[&ArgumentRule], budget: &MatcherBudget) -> GroupRules {
        let checks: Vec<&Check> = rules.iter().map(|r| r.kind_check()).collect();
        let matcher = match checks.first() {
            Some(Check::Number { .. }) => Matcher::Numbers(Numbers::build(&checks)),
            _ => Matcher::Lists(Box::new(Lists::build(&checks, budget))),
        };
        GroupRules {
            lookup: rules[0].lookup().clone(),
            required: (0..rules.len() as u32)
                .filter(|&r| rules[r as usize].required())
                .collect(),
            matcher,
        }
    }
}

impl ArgumentGroup {
    /// Identifies the shared compiled rules (tests of sharing).
    #[cfg(test)]
    pub(crate) fn shared_id(&self) -> usize {
        Arc::as_ptr(&self.rules) as usize
    }

    /// Adds (plan slot, failure) for every rule of the group that the
    /// call's arguments (`None`: none) fail.
    pub(crate) fn check(&self, args: Option<&Value>, out: &mut Vec<(u32, Failure)>) {
        let mut failed: Vec<(u32, FailureKind)> = Vec::new();
        match self.rules.lookup.find(args) {
            None => {
                out.extend(self.rules.required.iter().map(|&r| {
                    let failure = Failure {
                        kind: FailureKind::Missing,
                        element: None,
                    };
                    (self.slots[r as usize], failure)
                }));
            }
            Some(Value::Array(items)) => {
                // Each rule fails on its first failing element.
                let mut done = vec![false; self.slots.len()];
                let mut left = self.slots.len();
                for (i, item) in items.iter().enumerate() {
                    self.check_one(item, &mut failed);
                    for (r, kind) in failed.drain(..) {
                        if !std::mem::replace(&mut done[r as usize], true) {
                            left -= 1;
                            let failure = Failure {
                                kind,
                                element: Some(i),
                            };
                            out.push((self.slots[r as usize], failure));
                        }
                    }
                    if left == 0 {
                        break;
                    }
                }
            }
            Some(value) => {
                self.check_one(value, &mut failed);
                out.extend(failed.into_iter().map(|(r, kind)| {
                    let failure = Failure {
                        kind,
                        element: None,
                    };
                    (self.slots[r as usize], failure)
                }));
            }
        }
    }

    /// True when every rule of the group passes `value` (what `check`
    /// reports as no failure, for the same value as JSON). A value the
    /// group's kind cannot pass (a number for a path rule, text for a
    /// number rule, a nested list) is false: the full decision says why.
    pub(crate) fn passes(&self, value: &ArgumentValue) -> bool {
        let mut failed: Vec<(u32, FailureKind)> = Vec::new();
        match value {
            ArgumentValue::Missing => self.rules.required.is_empty(),
            ArgumentValue::List(items) => items.iter().all(|item| {
                !matches!(item, ArgumentValue::List(_) | ArgumentValue::Missing)
                    && self.scalar_passes(item, &mut failed)
            }),
            scalar => self.scalar_passes(scalar, &mut failed),
        }
    }

    fn scalar_passes(&self, value: &ArgumentValue, failed: &mut Vec<(u32, FailureKind)>) -> bool {
        match (&self.rules.matcher, value) {
            (Matcher::Lists(lists), ArgumentValue::Text(text)) => lists.check_text(text, failed),
            (Matcher::Numbers(numbers), ArgumentValue::Number(n)) => {
                match serde_json::Number::from_f64(*n) {
                    Some(n) => numbers.check_one(&Value::Number(n), failed),
                    None => return false,
                }
            }
            _ => return false,
        }
        failed.is_empty()
    }

    fn check_one(&self, value: &Value, out: &mut Vec<(u32, FailureKind)>) {
        match &self.rules.matcher {
            Matcher::Lists(lists) => lists.check_one(value, out),
            Matcher::Numbers(numbers) => numbers.check_one(value, out),
        }
    }
}
