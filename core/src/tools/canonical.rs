//! Canonical JSON and the digest of a tool definition. The text is the one
//! the Node SDK's `canonicalJson` wrote (keys sorted by UTF-16 code units,
//! numbers as JavaScript writes them), so that digests in lockfiles written
//! before the core held this logic still match.

use super::sorted_json::{to_text, Dialect};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// Integers JavaScript holds exactly; larger ones are doubles there.
const JS_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// One text per JSON value, whatever the key order the server used.
pub fn canonical_json(value: &Value) -> String {
    to_text::<JavaScript>(value)
}

/// `sha256:<hex>` of the canonical text.
pub fn digest_of(definition: &Value) -> String {
    let hash = Sha256::digest(canonical_json(definition).as_bytes());
    format!("sha256:{}", hex::encode(hash))
}

/// JavaScript's writing: keys by UTF-16 code units, as JS sorts strings.
struct JavaScript;

impl Dialect for JavaScript {
    fn key_order(a: &str, b: &str) -> Ordering {
        a.encode_utf16().cmp(b.encode_utf16())
    }

    fn write_number(out: &mut String, n: &serde_json::Number) {
        write_number(out, n)
    }

    fn write_string(out: &mut String, s: &str) {
        write_string(out, s)
    }
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(u) = n.as_u64().filter(|u| *u <= JS_SAFE_INTEGER) {
        out.push_str(&u.to_string());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= JS_SAFE_INTEGER) {
        out.push_str(&i.to_string());
    } else {
        out.push_str(&js_number(n.as_f64().unwrap_or(f64::NAN)));
    }
}

/// A double as JavaScript's `Number::toString` writes it: the shortest
/// round-trip digits, with ECMA-262's rules for where the exponent starts.
pub fn js_number(value: f64) -> String {
    if !value.is_finite() {
        return "null".into();
    }
    if value == 0.0 {
        return "0".into();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits: d[.ddd]e<exp>.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1; // the decimal point sits after n digits
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let mantissa = if k > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        format!("{mantissa}e{}{}", if e >= 0 { "+" } else { "-" }, e.abs())
    };
    format!("{sign}{body}")
}

/// A string as `JSON.stringify` writes it: only `"`, `\` and C0 controls
/// escaped.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let cases = [
            (1.0, "1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (-0.000001, "-0.000001"),
            (1.5e-7, "1.5e-7"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (9007199254740993.0, "9007199254740992"),
        ];
        for (value, text) in cases {
            assert_eq!(js_number(value), text, "{value}");
        }
        let big: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(canonical_json(&big), "9007199254740992");
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        let v = json!({"\u{ffff}": 1, "\u{10000}": 2, "b": 3, "B": 4});
        assert_eq!(
            canonical_json(&v),
            "{\"B\":4,\"b\":3,\"\u{10000}\":2,\"\u{ffff}\":1}"
        );
    }

    #[test]
    fn controls_are_escaped_like_json_stringify() {
        assert_eq!(
            canonical_json(&json!("a\u{1}\n\u{7f}\u{2028}")),
            "\"a\\u0001\\n\u{7f}\u{2028}\""
        );
    }
}
