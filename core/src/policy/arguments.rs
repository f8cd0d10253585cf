//! The arguments of one call: parsed at most once, and only when an
//! argument rule applies to the tool. A parse failure says where, never
//! what: the text may hold secrets.

use serde_json::Value;
use std::fmt;

/// The arguments of one call, parsed at most once and only when a rule
/// needs them.
pub(crate) struct LazyArgs<'a> {
    text: Option<&'a str>,
    parsed: Option<Result<Value, ParseFailure>>,
}

/// Why the arguments could not be read. Says where, never what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseFailure(String);

impl fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> LazyArgs<'a> {
    pub(crate) fn new(text: Option<&'a str>) -> Self {
        Self { text, parsed: None }
    }

    /// The parsed arguments (`Ok(None)`: the call has none).
    pub(crate) fn get(&mut self) -> Result<Option<&Value>, &ParseFailure> {
        let Some(text) = self.text else {
            return Ok(None);
        };
        let parsed = self
            .parsed
            .get_or_insert_with(|| serde_json::from_str::<Value>(text).map_err(describe));
        match parsed {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(e),
        }
    }

    /// True once the text has been parsed (for tests of laziness).
    #[cfg(test)]
    pub(crate) fn was_parsed(&self) -> bool {
        self.parsed.is_some()
    }
}

/// serde_json's messages for `Value` are fixed strings plus a position, but
/// to be sure no byte of the input reaches a violation the reason is
/// rebuilt from the error's category and position only.
fn describe(e: serde_json::Error) -> ParseFailure {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "unexpected end of JSON",
        Category::Syntax if e.to_string().starts_with("recursion limit exceeded") => {
            "JSON nested too deeply"
        }
        Category::Syntax => "invalid JSON",
        Category::Data => "invalid JSON data",
        Category::Io => "I/O error",
    };
    ParseFailure(format!("{what} at line {} column {}", e.line(), e.column()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lazy_args_parse_once_and_never_leak_text() {
        let mut a = LazyArgs::new(Some(r#"{"x": 1}"#));
        assert!(!a.was_parsed());
        assert_eq!(a.get().unwrap(), Some(&json!({"x": 1})));
        assert!(a.was_parsed());
        let mut none = LazyArgs::new(None);
        assert_eq!(none.get().unwrap(), None);

        let secret = "hunter2-SECRET";
        for text in [
            format!("{{\"password\": \"{secret}\""),
            format!("{{\"password\": {secret}}}"),
            format!("{{\"{secret}\" 1}}"),
            String::new(),
            format!("{}{}", "[".repeat(200), "]".repeat(200)),
        ] {
            let mut a = LazyArgs::new(Some(&text));
            let e = a.get().unwrap_err().to_string();
            assert!(!e.contains(secret), "{e}");
            assert!(e.contains("line"), "{e}");
        }
        let deep = "[".repeat(200);
        let mut a = LazyArgs::new(Some(&deep));
        assert!(a
            .get()
            .unwrap_err()
            .to_string()
            .starts_with("JSON nested too deeply"));
    }
}
