//! A tool's `descriptorHash` as the Execlave service computes it (the
//! `toolDescriptors` of an enforce request, the tool-integrity baseline):
//! the lowercase hex SHA-256 of the tool definition serialised as Python's
//! `json.dumps(d, sort_keys=True, separators=(",", ":"))` does it: keys
//! sorted at every level, no whitespace, every character outside printable
//! ASCII escaped as `\uXXXX` (a surrogate pair above U+FFFF), floats as
//! Python's `repr`. Not the lockfile's digest ([`super::canonical`]): the
//! service and the official SDK hash this way, byte for byte.

use super::sorted_json::{to_text, Dialect};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::fmt::Write;

/// The hash of one tool definition (the tool object as listed).
pub fn descriptor_hash(tool: &Value) -> String {
    hex::encode(Sha256::digest(python_json(tool).as_bytes()))
}

/// The `toolDescriptors` item of one listed tool: `{server, tool,
/// descriptorHash, description?}`; `definition` is the tool as listed (its
/// pinned fields). `None` when it has no string `name`.
pub fn tool_descriptor(server: &str, definition: &Value) -> Option<Value> {
    let name = definition.get("name")?.as_str()?;
    let mut item = serde_json::json!({
        "server": server,
        "tool": name,
        "descriptorHash": descriptor_hash(definition),
    });
    if let Some(d) = definition.get("description").and_then(Value::as_str) {
        item["description"] = Value::String(d.to_owned());
    }
    Some(item)
}

/// `json.dumps(value, sort_keys=True, separators=(",", ":"))`.
pub fn python_json(value: &Value) -> String {
    to_text::<Python>(value)
}

/// Python's writing: keys by code point (UTF-8 byte order is the same
/// order), `ensure_ascii`, floats as `repr`.
struct Python;

impl Dialect for Python {
    fn key_order(a: &str, b: &str) -> Ordering {
        a.cmp(b)
    }

    fn write_number(out: &mut String, n: &Number) {
        write_number(out, n)
    }

    fn write_string(out: &mut String, s: &str) {
        write_string(out, s)
    }
}

/// `ensure_ascii`: only ' '..='~' stay as they are (0x7F is escaped too).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Integers as they are; floats as Python's `repr(float)`: the shortest
/// digits that read back the same, positional when the decimal exponent is
/// in -4..16 (always with a fraction, `1.0`), else `1e+16`, `2.5e-05`.
fn write_number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    // Rust's `{:e}` gives the same shortest round-trip digits: `2.5e-5`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            out.push_str(".0");
        } else {
            let (int, frac) = digits.split_at(point as usize);
            let _ = write!(out, "{int}.{frac}");
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            let _ = write!(out, ".{rest}");
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (tool as JSON text, Python's output, its SHA-256), computed with
    /// CPython 3.11: `json.dumps(d, sort_keys=True, separators=(",", ":"))`.
    const VECTORS: [(&str, &str, &str); 5] = [
        (
            r#"{"name": "echo", "description": "Echoes text", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}"#,
            r#"{"description":"Echoes text","inputSchema":{"properties":{"text":{"type":"string"}},"required":["text"],"type":"object"},"name":"echo"}"#,
            "f5a6adf6b6bdeeb4ee2d47bb52be3de89f93814eeb82d1b4300e6d2629d15bcb",
        ),
        (
            "{\"name\": \"lire\", \"description\": \"Lit un fichier \u{2014} \u{201c}cit\u{e9}\u{201d} \u{e9}\u{e9} \u{2028} \u{2713}\", \"b\": null, \"a\": true}",
            r#"{"a":true,"b":null,"description":"Lit un fichier \u2014 \u201ccit\u00e9\u201d \u00e9\u00e9 \u2028 \u2713","name":"lire"}"#,
            "acbd505cd657c16ccc58252efc679a460ccc9b267087d0355fd087ae6bd4ae67",
        ),
        (
            "{\"name\": \"emoji\", \"description\": \"rocket \u{1f680} and \u{1d11e}\", \"nested\": {\"z\": [1, {\"y\": 2, \"x\": []}], \"a\": {}}}",
            r#"{"description":"rocket \ud83d\ude80 and \ud834\udd1e","name":"emoji","nested":{"a":{},"z":[1,{"x":[],"y":2}]}}"#,
            "6ba9e7eae1325b04b52a24b4661f552f732f091c8a82f227ce36713f3311649f",
        ),
        (
            "{\"name\": \"nums\", \"n\": [0, -1, 1.5, 1e+16, 1.0, 1e-07, 123456789012, 0.1, 2.5e-05, 1e+21, -0.0, 3.14159, 100.0], \"ctl\": \"tab\\tnl\\nq\\\"bs\\\\ \\u0001 \u{7f}\"}",
            r#"{"ctl":"tab\tnl\nq\"bs\\ \u0001 \u007f","n":[0,-1,1.5,1e+16,1.0,1e-07,123456789012,0.1,2.5e-05,1e+21,-0.0,3.14159,100.0],"name":"nums"}"#,
            "e3f95d858a371e8648debb2f4a4c6887888962ebd371df5df70311e033f2e3ca",
        ),
        (
            "{\"Z\": 1, \"a\": 2, \"B\": 3, \"\u{e9}\": 4, \"e\": 5}",
            r#"{"B":3,"Z":1,"a":2,"e":5,"\u00e9":4}"#,
            "26cd6142ce5f074461981111107926f1f79d1f2c7a599adbb1f73d89b2a69e70",
        ),
    ];

    #[test]
    fn hashes_as_python_does() {
        for (input, python, hash) in VECTORS {
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(python_json(&value), python, "{input}");
            assert_eq!(descriptor_hash(&value), hash, "{input}");
        }
    }

    #[test]
    fn floats_as_python_repr() {
        for (f, repr) in [
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.456, "123.456"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5, "-2.5"),
        ] {
            let v = Value::Number(Number::from_f64(f).unwrap());
            assert_eq!(python_json(&v), repr, "{f}");
        }
    }
}
