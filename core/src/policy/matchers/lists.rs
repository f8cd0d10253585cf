//! The allow and deny lists of every path, glob or regex rule of a group,
//! matched at once.
//!
//! Each distinct pattern is compiled once into a combined matcher (a lazy
//! DFA for path and glob patterns, a regex set for regexes); a value is
//! matched once, and the rules that fail are found from the patterns that
//! matched: a rule with a matching denied pattern fails (`Denied`), and a
//! rule with an allowlist fails (`NotAllowed`) unless one of its allowed
//! patterns matched. Rules are only visited one by one when some rule does
//! fail, to say which.

use super::combined_dfa::{CombinedDfa, MatcherBudget};
use crate::policy::rules::{
    as_text, normalize, Check, FailureKind, Glob, NormalPath, PathPattern, PolicyRegex,
};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{MatchKind, PatternSet};
use serde_json::Value;
use std::collections::HashMap;

/// One distinct pattern of the group.
#[derive(Debug)]
enum Pattern {
    Path(PathPattern),
    Glob(Glob),
    Regex(PolicyRegex),
}

/// How the group's patterns are matched at once.
#[derive(Debug)]
enum Combined {
    /// Path and glob patterns (whole-value matches).
    Dfa(Box<CombinedDfa>),
    /// Regex rules (a match anywhere in the value).
    Set(Regex),
    /// Too big to combine: pattern by pattern.
    None,
}

#[derive(Debug)]
pub(crate) struct Lists {
    paths: bool,
    patterns: Vec<Pattern>,
    /// Per pattern: the rules (group-local ids) that deny it, and that
    /// allow it, each once.
    deny_users: Vec<Box<[u32]>>,
    allow_users: Vec<Box<[u32]>>,
    /// Per pattern: it is on every allowlist of the group.
    covers_all: Vec<bool>,
    combined: Combined,
    /// Per rule: it has an allowlist.
    has_allow: Box<[bool]>,
    /// Rules with an allowlist.
    allow_rules: Box<[u32]>,
    /// Per rule (path rules): an absolute pattern makes it refuse values
    /// that are not absolute.
    absolute_only: Box<[bool]>,
    absolute_rules: Box<[u32]>,
    /// Rules with an allowlist and no absolute pattern.
    relative_allow_rules: usize,
}

impl Lists {
    /// The lists of `checks` (all path, all glob or all regex checks), by
    /// group-local id.
    pub(crate) fn build(checks: &[&Check], budget: &MatcherBudget) -> Lists {
        let mut patterns = Vec::new();
        let mut users: Vec<Vec<(u32, bool)>> = Vec::new();
        let mut sources: Vec<String> = Vec::new();
        let mut by_source: HashMap<String, usize> = HashMap::new();
        let mut has_allow = Vec::with_capacity(checks.len());
        let mut absolute_only = Vec::with_capacity(checks.len());
        let mut paths = false;
        for (rule, check) in checks.iter().enumerate() {
            let rule = rule as u32;
            let mut add = |source: String, pattern: Pattern, deny: bool| {
                let i = *by_source.entry(source.clone()).or_insert_with(|| {
                    patterns.push(pattern);
                    users.push(Vec::new());
                    sources.push(source);
                    patterns.len() - 1
                });
                users[i].push((rule, deny));
            };
            match check {
                Check::Path {
                    allow,
                    deny,
                    absolute_only: abs,
                } => {
                    paths = true;
                    for (list, is_deny) in [(allow, false), (deny, true)] {
                        for p in list {
                            let mut source = String::new();
                            p.write_regex(&mut source);
                            add(source, Pattern::Path(p.clone()), is_deny);
                        }
                    }
                    has_allow.push(!allow.is_empty());
                    absolute_only.push(*abs);
                }
                Check::Glob { allow, deny } => {
                    for (list, is_deny) in [(allow, false), (deny, true)] {
                        for g in list {
                            let mut source = String::new();
                            g.write_regex(&mut source, false);
                            add(source, Pattern::Glob(g.clone()), is_deny);
                        }
                    }
                    has_allow.push(!allow.is_empty());
                    absolute_only.push(false);
                }
                Check::Regex { allow, deny } => {
                    for (list, is_deny) in [(allow, false), (deny, true)] {
                        for r in list {
                            // The flag is part of what the pattern means.
                            let source = format!("{}{}", u8::from(r.case_insensitive), r.source);
                            add(source, Pattern::Regex(r.clone()), is_deny);
                        }
                    }
                    has_allow.push(!allow.is_empty());
                    absolute_only.push(false);
                }
                Check::Number { .. } => unreachable!("number rules are not lists"),
            }
        }
        let combined = if patterns.iter().all(|p| matches!(p, Pattern::Regex(_))) {
            regex_set(&patterns).map_or(Combined::None, Combined::Set)
        } else {
            CombinedDfa::build(&sources, budget)
                .map_or(Combined::None, |d| Combined::Dfa(Box::new(d)))
        };
        let allow_rules: Box<[u32]> = (0..checks.len() as u32)
            .filter(|&r| has_allow[r as usize])
            .collect();
        let absolute_rules: Box<[u32]> = (0..checks.len() as u32)
            .filter(|&r| absolute_only[r as usize])
            .collect();
        let relative_allow_rules = allow_rules
            .iter()
            .filter(|&&r| !absolute_only[r as usize])
            .count();
        let of = |uses: &[(u32, bool)], deny: bool| -> Box<[u32]> {
            let mut rules: Vec<u32> = uses
                .iter()
                .filter(|(_, d)| *d == deny)
                .map(|(r, _)| *r)
                .collect();
            rules.sort_unstable();
            rules.dedup();
            rules.into()
        };
        let deny_users: Vec<Box<[u32]>> = users.iter().map(|u| of(u, true)).collect();
        let allow_users: Vec<Box<[u32]>> = users.iter().map(|u| of(u, false)).collect();
        let covers_all = allow_users
            .iter()
            .map(|u| !allow_rules.is_empty() && u.len() == allow_rules.len())
            .collect();
        Lists {
            paths,
            patterns,
            deny_users,
            allow_users,
            covers_all,
            combined,
            has_allow: has_allow.into(),
            allow_rules,
            absolute_only: absolute_only.into(),
            absolute_rules,
            relative_allow_rules,
        }
    }

    /// The rules (group-local ids) that `value` fails, with why.
    pub(crate) fn check_one(&self, value: &Value, out: &mut Vec<(u32, FailureKind)>) {
        let rules = self.has_allow.len() as u32;
        if let Value::String(s) = value {
            self.check_text(s, out);
        } else if self.paths {
            out.extend((0..rules).map(|r| (r, FailureKind::NotString)));
        } else {
            let text = as_text(value);
            self.fail_lists(&Subject::Text(&text), false, out);
        }
    }

    /// `check_one` of a JSON string.
    pub(crate) fn check_text(&self, s: &str, out: &mut Vec<(u32, FailureKind)>) {
        if self.paths {
            let path = normalize(s);
            let unqualified = !path.qualified;
            if unqualified {
                out.extend(
                    self.absolute_rules
                        .iter()
                        .map(|&r| (r, FailureKind::NotAbsolute)),
                );
            }
            let text = path.matching_text();
            self.fail_lists(&Subject::Path(&path, &text), unqualified, out);
        } else {
            self.fail_lists(&Subject::Text(s), false, out);
        }
    }

    /// The list failures; with `unqualified`, rules with absolute patterns
    /// have failed already and are left out.
    fn fail_lists(
        &self,
        subject: &Subject<'_>,
        unqualified: bool,
        out: &mut Vec<(u32, FailureKind)>,
    ) {
        let skip = |r: u32| unqualified && self.absolute_only[r as usize];
        let mut matched: Vec<usize> = Vec::new();
        self.matches(subject, |p| matched.push(p));
        // A matched pattern on every allowlist satisfies them all (a common
        // base such as `/srv/data/**`): its rules need not be visited.
        let covered = matched.iter().any(|&p| self.covers_all[p]);
        let mut denied: Vec<u32> = Vec::new();
        let mut allowed: Vec<u32> = Vec::new();
        for &p in &matched {
            denied.extend_from_slice(&self.deny_users[p]);
            if !covered {
                allowed.extend_from_slice(&self.allow_users[p]);
            }
        }
        denied.sort_unstable();
        denied.dedup();
        out.extend(
            denied
                .iter()
                .filter(|&&r| !skip(r))
                .map(|&r| (r, FailureKind::Denied)),
        );
        if covered {
            return;
        }
        allowed.sort_unstable();
        allowed.dedup();
        // Allowlists settled: by a match, or by a denial (deny first).
        let settled = allowed.iter().filter(|&&r| !skip(r)).count()
            + denied
                .iter()
                .filter(|&&r| {
                    !skip(r) && self.has_allow[r as usize] && allowed.binary_search(&r).is_err()
                })
                .count();
        let expected = if unqualified {
            self.relative_allow_rules
        } else {
            self.allow_rules.len()
        };
        if settled < expected {
            for &r in self.allow_rules.iter() {
                if !skip(r)
                    && allowed.binary_search(&r).is_err()
                    && denied.binary_search(&r).is_err()
                {
                    out.push((r, FailureKind::NotAllowed));
                }
            }
        }
    }

    /// Calls `matched` once with each pattern that matches `subject`.
    fn matches(&self, subject: &Subject<'_>, mut matched: impl FnMut(usize)) {
        match (&self.combined, subject) {
            (Combined::Dfa(dfa), Subject::Path(_, text) | Subject::Text(text)) => {
                let mut found = Vec::new();
                if dfa.for_each_match(text, |p| found.push(p)) {
                    return found.into_iter().for_each(matched);
                }
            }
            (Combined::Set(set), Subject::Text(text)) => {
                let mut which = PatternSet::new(set.pattern_len());
                set.which_overlapping_matches(&regex_automata::Input::new(*text), &mut which);
                return which.iter().for_each(|p| matched(p.as_usize()));
            }
            _ => {}
        }
        for (i, pattern) in self.patterns.iter().enumerate() {
            let hit = match (pattern, subject) {
                (Pattern::Path(p), Subject::Path(path, _)) => p.matches(path),
                (Pattern::Glob(g), Subject::Text(text)) => g.matches(text),
                (Pattern::Regex(r), Subject::Text(text)) => r.is_match(text),
                _ => false,
            };
            if hit {
                matched(i);
            }
        }
    }
}

/// A value as the patterns see it.
enum Subject<'a> {
    /// A normalised path, and its text for the combined matcher.
    Path(&'a NormalPath<'a>, &'a str),
    Text(&'a str),
}

/// The regexes of regex rules in one regex set: each pattern compiled from
/// its source with its own case flag, as the rule compiled it; `None` when
/// the set would be too big (the rules' regexes are then used one by one).
fn regex_set(patterns: &[Pattern]) -> Option<Regex> {
    let hirs = patterns
        .iter()
        .map(|p| match p {
            Pattern::Regex(r) => syntax::parse_with(
                &r.source,
                &syntax::Config::new().case_insensitive(r.case_insensitive),
            )
            .ok(),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    if hirs.is_empty() {
        return None;
    }
    Regex::builder()
        .configure(
            Regex::config()
                .match_kind(MatchKind::All)
                .nfa_size_limit(Some(8 << 20)),
        )
        .build_many_from_hir(&hirs)
        .ok()
}
