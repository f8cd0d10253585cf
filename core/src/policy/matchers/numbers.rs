//! The bounds of every number rule of a group, as one interval check.
//!
//! Minimums are kept highest first and maximums lowest first: the rules a
//! value fails are a prefix of each list, so a value in range costs two
//! comparisons however many rules there are, and a value out of range one
//! more per rule it fails. Comparisons are exact (`Bound`).

use crate::policy::rules::{Bound, Check, FailureKind};
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct Numbers {
    rules: u32,
    /// (minimum, rule), highest minimum first.
    mins: Box<[(Bound, u32)]>,
    /// (maximum, rule), lowest maximum first.
    maxes: Box<[(Bound, u32)]>,
}

impl Numbers {
    pub(crate) fn build(checks: &[&Check]) -> Numbers {
        let mut mins = Vec::new();
        let mut maxes = Vec::new();
        for (rule, check) in checks.iter().enumerate() {
            let Check::Number { min, max } = check else {
                unreachable!("only number rules are grouped here");
            };
            if let Some(min) = min {
                mins.push((min.clone(), rule as u32));
            }
            if let Some(max) = max {
                maxes.push((max.clone(), rule as u32));
            }
        }
        mins.sort_by(|a, b| b.0.cmp_bound(&a.0));
        maxes.sort_by(|a, b| a.0.cmp_bound(&b.0));
        Numbers {
            rules: checks.len() as u32,
            mins: mins.into(),
            maxes: maxes.into(),
        }
    }

    /// The rules (group-local ids) that `value` fails, with why.
    pub(crate) fn check_one(&self, value: &Value, out: &mut Vec<(u32, FailureKind)>) {
        let Value::Number(n) = value else {
            out.extend((0..self.rules).map(|r| (r, FailureKind::NotNumber)));
            return;
        };
        for (min, rule) in self.mins.iter() {
            if !min.cmp_value(n).is_lt() {
                break;
            }
            out.push((*rule, FailureKind::BelowMin(min.as_f64())));
        }
        for (max, rule) in self.maxes.iter() {
            if !max.cmp_value(n).is_gt() {
                break;
            }
            out.push((*rule, FailureKind::AboveMax(max.as_f64())));
        }
    }
}
