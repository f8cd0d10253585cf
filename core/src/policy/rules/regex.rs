//! Compiling the regexes of `regex` argument rules within a budget.
//!
//! A regex's compiled size grows with its repetitions and Unicode classes
//! (`\w{12}` is about 1 MiB), so 1 000 small-looking rules could take a
//! gigabyte and seconds to compile. Each regex is limited on its own, and
//! all the regexes of one policy set share one budget: the size the regex
//! engine reports for each (`memory_usage`, plus one search cache), summed.
//! A regex that would go over is an invalid policy. Each regex is built with
//! no more room than the budget has left, so refusing an oversized set
//! never costs more than the budget to find out.

use regex_automata::meta::Regex;
use regex_automata::util::syntax;

/// All the regexes of one policy set, compiled.
pub(crate) const SET_BUDGET: usize = 16 << 20;
/// One regex's automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// How far one regex's lazy DFA cache may grow (per thread that uses it).
const CACHE_CAPACITY: usize = 512 << 10;

/// A rule's regex, with what it was compiled from: a combined matcher
/// compiles the same source again, among others.
#[derive(Debug, Clone)]
pub(crate) struct PolicyRegex {
    regex: Regex,
    pub(crate) source: Box<str>,
    pub(crate) case_insensitive: bool,
}

impl PolicyRegex {
    /// True when the regex matches somewhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// What is left of a policy set's regex budget.
#[derive(Debug, Clone)]
pub(crate) struct RegexBudget {
    left: usize,
}

impl Default for RegexBudget {
    fn default() -> Self {
        Self { left: SET_BUDGET }
    }
}

impl RegexBudget {
    /// Compiles `pattern`, charging its size to the budget. The error is a
    /// one-line message for the field that holds the pattern.
    pub(crate) fn compile(
        &mut self,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<PolicyRegex, String> {
        let limit = REGEX_SIZE_LIMIT.min(self.left);
        let built = Regex::builder()
            .syntax(syntax::Config::new().case_insensitive(case_insensitive))
            .configure(
                Regex::config()
                    .nfa_size_limit(Some(limit))
                    .onepass_size_limit(Some(limit))
                    .hybrid_cache_capacity(CACHE_CAPACITY),
            )
            .build(pattern);
        let regex = match built {
            Ok(regex) => regex,
            Err(e) if e.size_limit().is_some() && limit < REGEX_SIZE_LIMIT => {
                return Err(over_budget())
            }
            Err(e) => return Err(format!("invalid regex: {}", reason(&e))),
        };
        let size = regex.memory_usage() + regex.create_cache().memory_usage();
        if size > self.left {
            return Err(over_budget());
        }
        self.left -= size;
        Ok(PolicyRegex {
            regex,
            source: pattern.into(),
            case_insensitive,
        })
    }
}

fn over_budget() -> String {
    format!(
        "regex budget exceeded: the regexes of all policies together may take at most {} MiB compiled",
        SET_BUDGET >> 20
    )
}

/// Why a pattern does not compile, as the parser says it (`unclosed
/// group`): the builder's own text only says `error parsing pattern 0`,
/// the reason is in its source, after the pattern and a caret.
fn reason(e: &regex_automata::meta::BuildError) -> String {
    let Some(syntax) = std::error::Error::source(e) else {
        return one_line(&e.to_string());
    };
    let text = syntax.to_string();
    let said = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned);
    one_line(&said.unwrap_or(text))
}

/// Error texts may span lines (pattern, caret, message); keep them on one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_charged_and_the_rest_refused() {
        let mut budget = RegexBudget::default();
        let small = budget.compile(r"^\s*select\b", true).unwrap();
        assert!(small.is_match("  SELECT 1"));
        assert!(budget.left < SET_BUDGET);
        let mut heavy = 0;
        let error = loop {
            match budget.compile(r"\w{12}", false) {
                Ok(_) => heavy += 1,
                Err(e) => break e,
            }
        };
        assert!(error.starts_with("regex budget exceeded"), "{error}");
        assert!((8..=40).contains(&heavy), "{heavy} copies of \\w{{12}} fit");
        // What is left still takes a small regex.
        assert!(budget.compile("drop|delete", false).is_ok());
    }

    #[test]
    fn one_regex_too_big_is_invalid_not_over_budget() {
        let e = RegexBudget::default()
            .compile(r"\w{1000}\w{1000}\w{1000}", false)
            .unwrap_err();
        assert!(e.starts_with("invalid regex"), "{e}");
        let e = RegexBudget::default()
            .compile("(unclosed", false)
            .unwrap_err();
        assert_eq!(e, "invalid regex: unclosed group");
        let e = RegexBudget::default().compile("a{2,1}", false).unwrap_err();
        assert!(
            e.starts_with("invalid regex: ") && e.contains("invalid"),
            "{e}"
        );
        assert!(!e.contains("pattern 0"), "{e}");
    }
}
