//! Case-insensitive matching as the rules define it, written as regex
//! classes for the combined matchers.
//!
//! A rule with `caseInsensitive` compares characters by their Unicode
//! lowercase mapping (`char::to_lowercase`, one character at a time). The
//! regex engine's `(?i)` uses simple case folding instead, which differs
//! on a few characters (`ſ` folds to `s`, `ς` to `σ`, `ϐ` to `β`, while
//! their lowercase mappings differ). So a combined matcher does not use
//! `(?i)`: each literal character becomes the class of exactly the
//! characters a rule would call equal to it.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::OnceLock;

/// Lowercase mapping → the characters whose mapping it is, for every
/// character whose mapping is not itself (about 1 400 of them).
fn uppercase_by_lowercase() -> &'static HashMap<String, Vec<char>> {
    static TABLE: OnceLock<HashMap<String, Vec<char>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<String, Vec<char>> = HashMap::new();
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let lower: String = c.to_lowercase().collect();
            if lower.chars().ne(std::iter::once(c)) {
                table.entry(lower).or_default().push(c);
            }
        }
        table
    })
}

/// Every character `x` with `x.to_lowercase() == c.to_lowercase()`,
/// sorted; `c` itself included.
pub(crate) fn equal_ignoring_case(c: char) -> Vec<char> {
    let lower: String = c.to_lowercase().collect();
    let mut class = uppercase_by_lowercase()
        .get(&lower)
        .cloned()
        .unwrap_or_default();
    let mut single = lower.chars();
    if let (Some(l), None) = (single.next(), single.next()) {
        if l.to_lowercase().eq(std::iter::once(l)) {
            class.push(l);
        }
    }
    class.push(c);
    class.sort_unstable();
    class.dedup();
    class
}

/// One character as regex syntax that matches exactly it.
pub(crate) fn write_literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
}

/// One character of a pattern as regex syntax: itself, or with
/// `case_insensitive` the class of the characters equal to it.
pub(crate) fn write_char(out: &mut String, c: char, case_insensitive: bool) {
    if !case_insensitive {
        return write_literal(out, c);
    }
    let class = equal_ignoring_case(c);
    if let [only] = class.as_slice() {
        return write_literal(out, *only);
    }
    out.push('[');
    for x in class {
        write_literal(out, x);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars_eq(a: char, b: char) -> bool {
        a == b || a.to_lowercase().eq(b.to_lowercase())
    }

    #[test]
    fn classes_hold_exactly_the_characters_a_rule_calls_equal() {
        for c in [
            'a', 'A', 'ſ', 's', 'S', 'ς', 'σ', 'Σ', 'K', 'k', 'İ', 'i', 'ß', 'ẞ', '1', '/',
        ] {
            let class = equal_ignoring_case(c);
            for x in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
                assert_eq!(class.contains(&x), chars_eq(c, x), "{c:?} {x:?}");
            }
        }
    }
}
