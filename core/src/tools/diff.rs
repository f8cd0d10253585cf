//! A definition change as lines a person reads: field by field, every
//! server-supplied string escaped (a tool name or description holding
//! terminal escapes must not redraw the review over itself).

use super::canonical::canonical_json;
use crate::log::one_line;
use serde_json::Value;

/// The parts of a tool definition a model or a client acts on; a change
/// to any of them is a changed tool.
pub const PINNED_FIELDS: [&str; 5] = [
    "name",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
];

/// How `after` differs from `before` (None: not pinned). `after` None: the
/// definition seen could not be read or was too large to keep.
pub fn definition_diff(name: &str, before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let name = one_line(name);
    let Some(after) = after else {
        return vec![format!("~ tool \"{name}\": the definition seen is not shown (unreadable or over the size kept)")];
    };
    let Some(before) = before else {
        return vec![format!(
            "+ new tool \"{name}\": {}",
            one_line(&canonical_json(after))
        )];
    };
    let mut lines = vec![format!("~ tool \"{name}\" changed:")];
    for field in PINNED_FIELDS {
        let a = canonical_json(before.get(field).unwrap_or(&Value::Null));
        let b = canonical_json(after.get(field).unwrap_or(&Value::Null));
        if a != b {
            lines.push(format!("    {field}: - {}", one_line(&a)));
            lines.push(format!(
                "    {}  + {}",
                " ".repeat(field.len()),
                one_line(&b)
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_strings_cannot_steer_the_terminal() {
        let lines = definition_diff(
            "evil\u{1b}[1A\u{1b}[2K",
            None,
            Some(&json!({"description": "\u{9b}8m\u{202e}"})),
        );
        for line in lines {
            assert!(
                !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{line:?}"
            );
        }
    }
}
