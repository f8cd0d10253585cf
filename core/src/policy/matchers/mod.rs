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

pub(crate) use combined_dfa::MatcherBudget;

use super::rules::{ArgumentRule, Check, Failure, FailureKind, Lookup};
use lists::Lists;
use numbers::Numbers;
use serde_json::Value;

/// The rules of one group, by group-local id; `slots` says where each is
/// in the plan (the order of violations).
#[derive(Debug)]
pub(crate) struct ArgumentGroup {
    lookup: Lookup,
    slots: Box<[u32]>,
    required: Box<[u32]>,
    matcher: Matcher,
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

impl ArgumentGroup {
    /// The group of `rules` (same [`group_key`]), each with its plan slot.
    pub(crate) fn build(rules: &[(u32, &ArgumentRule)], budget: &MatcherBudget) -> ArgumentGroup {
        let checks: Vec<&Check> = rules.iter().map(|(_, r)| r.kind_check()).collect();
        let matcher = match checks.first() {
            Some(Check::Number { .. }) => Matcher::Numbers(Numbers::build(&checks)),
            _ => Matcher::Lists(Box::new(Lists::build(&checks, budget))),
        };
        ArgumentGroup {
            lookup: rules[0].1.lookup().clone(),
            slots: rules.iter().map(|(slot, _)| *slot).collect(),
            required: (0..rules.len() as u32)
                .filter(|&r| rules[r as usize].1.required())
                .collect(),
            matcher,
        }
    }

    /// Adds (plan slot, failure) for every rule of the group that the
    /// call's arguments (`None`: none) fail.
    pub(crate) fn check(&self, args: Option<&Value>, out: &mut Vec<(u32, Failure)>) {
        let mut failed: Vec<(u32, FailureKind)> = Vec::new();
        match self.lookup.find(args) {
            None => {
                out.extend(self.required.iter().map(|&r| {
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

    fn check_one(&self, value: &Value, out: &mut Vec<(u32, FailureKind)>) {
        match &self.matcher {
            Matcher::Lists(lists) => lists.check_one(value, out),
            Matcher::Numbers(numbers) => numbers.check_one(value, out),
        }
    }
}
