//! Checks of single fields that serde types cannot express (required,
//! not blank, one of a list), shared by the policy and its argument rules.

use super::error::{Location, PolicyError};
use super::raw::{List, Text};

/// A required string that is not blank.
pub(crate) fn required_text(
    at: &Location<'_>,
    value: Option<Text>,
    field: &str,
) -> Result<String, PolicyError> {
    match value {
        None => Err(at.err(field, "is required")),
        Some(Text(s)) if s.trim().is_empty() => Err(at.err(field, "must not be empty")),
        Some(Text(s)) => Ok(s),
    }
}

/// A list of strings, each non-empty (patterns).
pub(crate) fn patterns(
    at: &Location<'_>,
    value: Option<List<Text>>,
    field: &str,
) -> Result<Vec<String>, PolicyError> {
    let items = value.map(|l| l.0).unwrap_or_default();
    items
        .into_iter()
        .enumerate()
        .map(|(i, Text(s))| {
            if s.is_empty() {
                Err(at.err(format!("{field}[{i}]"), "must not be empty"))
            } else {
                Ok(s)
            }
        })
        .collect()
}

/// `value` if it is one of `allowed`, else `unknown <what> "x" (expected a, b or c)`.
pub(crate) fn one_of<'a>(
    at: &Location<'_>,
    field: &str,
    value: &str,
    allowed: &[&'a str],
) -> Result<&'a str, PolicyError> {
    allowed
        .iter()
        .copied()
        .find(|a| *a == value)
        .ok_or_else(|| {
            let (last, rest) = allowed.split_last().expect("non-empty list");
            let what = field.rsplit('.').next().unwrap_or(field);
            at.err(
                field,
                format!(
                    "unknown {what} {value:?} (expected {} or {last})",
                    rest.join(", ")
                ),
            )
        })
}
