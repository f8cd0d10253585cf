//! Tool-name patterns (also used by `glob` argument rules and, per segment,
//! by path patterns): `*` matches any run of characters (none included), `?`
//! exactly one character, and nothing else is special. The whole string must
//! match. Case-sensitive unless compiled case-insensitive.

use super::case_fold::{write_char, write_literal};

/// A compiled pattern. Patterns without wildcards compare as plain strings;
/// `*` alone (or only stars) matches without looking at the string.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    matcher: Matcher,
    case_insensitive: bool,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// No wildcard: the string must be equal.
    Literal(String),
    /// Only `*`s: everything matches.
    Any,
    /// `abc*` (case-sensitive only).
    Prefix(String),
    /// `*abc` (case-sensitive only).
    Suffix(String),
    /// Anything else.
    Glob(Box<[Token]>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Star,
    One,
    Char(char),
}

impl Glob {
    pub(crate) fn new(pattern: &str, case_insensitive: bool) -> Self {
        let mut tokens: Vec<Token> = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            let t = match c {
                '*' => Token::Star,
                '?' => Token::One,
                c => Token::Char(c),
            };
            // `**` within a name is the same as `*`.
            if t == Token::Star && tokens.last() == Some(&Token::Star) {
                continue;
            }
            tokens.push(t);
        }
        let stars = tokens.iter().filter(|t| **t == Token::Star).count();
        let ones = tokens.iter().filter(|t| **t == Token::One).count();
        let matcher = if stars == 0 && ones == 0 && !case_insensitive {
            Matcher::Literal(pattern.to_owned())
        } else if tokens == [Token::Star] {
            Matcher::Any
        } else if !case_insensitive
            && ones == 0
            && stars == 1
            && tokens.last() == Some(&Token::Star)
        {
            Matcher::Prefix(pattern.trim_end_matches('*').to_owned())
        } else if !case_insensitive && ones == 0 && stars == 1 && tokens[0] == Token::Star {
            Matcher::Suffix(pattern.trim_start_matches('*').to_owned())
        } else {
            Matcher::Glob(tokens.into_boxed_slice())
        };
        Self {
            matcher,
            case_insensitive,
        }
    }

    /// True when the pattern matches all of `s`.
    pub(crate) fn matches(&self, s: &str) -> bool {
        match &self.matcher {
            Matcher::Literal(lit) => lit == s,
            Matcher::Any => true,
            Matcher::Prefix(p) => s.starts_with(p.as_str()),
            Matcher::Suffix(p) => s.ends_with(p.as_str()),
            Matcher::Glob(tokens) => glob_match(tokens, s, self.case_insensitive),
        }
    }

    /// The pattern as regex syntax for a combined matcher (no anchors):
    /// the same strings match. `segment`: the pattern names one path
    /// segment, so its wildcards never cross a `/` and it never matches
    /// the empty string (a normalised path has no empty segment, only the
    /// root, which a name pattern must not match).
    ///
    /// A star is written as a run of bytes, not of characters: the values
    /// are valid UTF-8 and whatever follows a star starts a character (a
    /// literal, `?`, `/` or the end), so the same strings match, and the
    /// automaton of thousands of patterns builds several times faster
    /// without a UTF-8 decoder per star. Needs `utf8(false)` syntax.
    pub(crate) fn write_regex(&self, out: &mut String, segment: bool) {
        let any = if segment { "[^/]" } else { "(?s:.)" };
        let run = if segment { "(?-u:[^/])" } else { "(?s-u:.)" };
        let star = |out: &mut String| {
            out.push_str(run);
            out.push('*');
        };
        match &self.matcher {
            Matcher::Literal(lit) => lit.chars().for_each(|c| write_literal(out, c)),
            Matcher::Any if segment => {
                out.push_str(run);
                out.push('+');
            }
            Matcher::Any => star(out),
            Matcher::Prefix(p) => {
                p.chars().for_each(|c| write_literal(out, c));
                star(out);
            }
            Matcher::Suffix(p) => {
                star(out);
                p.chars().for_each(|c| write_literal(out, c));
            }
            Matcher::Glob(tokens) => {
                for token in tokens.iter() {
                    match *token {
                        Token::Star => star(out),
                        Token::One => out.push_str(any),
                        Token::Char(c) => write_char(out, c, self.case_insensitive),
                    }
                }
            }
        }
    }

    /// True when the pattern matches only this exact string (no wildcard).
    #[cfg(test)]
    fn is_literal(&self) -> bool {
        matches!(self.matcher, Matcher::Literal(_))
    }
}

fn chars_eq(a: char, b: char, case_insensitive: bool) -> bool {
    a == b || (case_insensitive && a.to_lowercase().eq(b.to_lowercase()))
}

/// Wildcard matching with backtracking to the last `*` only: linear in
/// practice, O(pattern × string) at worst, never exponential.
fn glob_match(tokens: &[Token], s: &str, case_insensitive: bool) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after a mismatch: the token after the last `*`, and
    // the position in `s` that star has consumed up to.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        let next = s[i..].chars().next();
        if let Some(token) = tokens.get(p) {
            match (*token, next) {
                (Token::Star, _) => {
                    p += 1;
                    resume = Some((p, i));
                    continue;
                }
                (Token::One, Some(c)) => {
                    p += 1;
                    i += c.len_utf8();
                    continue;
                }
                (Token::Char(want), Some(c)) if chars_eq(want, c, case_insensitive) => {
                    p += 1;
                    i += c.len_utf8();
                    continue;
                }
                _ => {}
            }
        } else if next.is_none() {
            return true;
        }
        // Mismatch: let the last star swallow one more character.
        match resume {
            Some((rp, ri)) => match s[ri..].chars().next() {
                Some(c) => {
                    let ri = ri + c.len_utf8();
                    resume = Some((rp, ri));
                    p = rp;
                    i = ri;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p, false).matches(s)
    }

    fn mi(p: &str, s: &str) -> bool {
        Glob::new(p, true).matches(s)
    }

    #[test]
    fn exact_names() {
        assert!(m("write_file", "write_file"));
        assert!(!m("write_file", "write_files"));
        assert!(!m("write_file", "rewrite_file"));
        assert!(!m("write_file", ""));
        assert!(Glob::new("write_file", false).is_literal());
    }

    #[test]
    fn star_alone_matches_everything() {
        for s in ["", "a", "write_file", "ünïcødé", "with space"] {
            assert!(m("*", s), "{s}");
            assert!(m("**", s), "{s}");
        }
    }

    #[test]
    fn star_matches_any_run_including_none() {
        assert!(m("list_*", "list_"));
        assert!(m("list_*", "list_dir"));
        assert!(!m("list_*", "list"));
        assert!(!m("list_*", "xlist_dir"));
        assert!(m("*_file", "read_file"));
        assert!(m("*_file", "_file"));
        assert!(!m("*_file", "read_files"));
        assert!(m("re*_f*e", "read_file"));
        assert!(m("re*_f*e", "re_fe"));
        assert!(!m("re*_f*e", "read_fil"));
        assert!(m("a*b*c", "abbbbc"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("*a*", "banana"));
        assert!(!m("*a*", "xyz"));
    }

    #[test]
    fn question_mark_is_exactly_one_char() {
        assert!(m("tool?", "tool1"));
        assert!(m("tool?", "toolé"));
        assert!(!m("tool?", "tool"));
        assert!(!m("tool?", "tool12"));
        assert!(m("?", "x"));
        assert!(!m("?", ""));
        assert!(m("??*", "ab"));
        assert!(!m("??*", "a"));
    }

    #[test]
    fn nothing_else_is_special() {
        assert!(m("a[b]c", "a[b]c"));
        assert!(!m("a[b]c", "abc"));
        assert!(m("a.c", "a.c"));
        assert!(!m("a.c", "abc"));
        assert!(m("a\\*", "a\\xyz"));
        assert!(m("{a,b}", "{a,b}"));
        assert!(m("^x$", "^x$"));
    }

    #[test]
    fn case_sensitivity() {
        assert!(!m("Write_File", "write_file"));
        assert!(!m("write_*", "WRITE_FILE"));
        assert!(!m("*_FILE", "write_file"));
        assert!(mi("Write_File", "write_file"));
        assert!(mi("write_*", "WRITE_FILE"));
        assert!(mi("*_FILE", "write_file"));
        assert!(mi("ÉTÉ?", "étéx"));
        assert!(!mi("write_*", "read_file"));
    }

    #[test]
    fn no_exponential_backtracking() {
        let p = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = "a".repeat(5_000);
        let t = std::time::Instant::now();
        assert!(!m(p, &s));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}
