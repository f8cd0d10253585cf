//! JSON with keys sorted at every level and no whitespace: the one walk
//! behind both tool digests. Where they differ (how keys sort, how numbers
//! and strings are written) is a [`Dialect`]: the lockfile's digest writes
//! as JavaScript did ([`super::canonical`]), the service's descriptor hash
//! as Python's `json.dumps` does ([`super::descriptor`]).

use serde_json::{Number, Value};
use std::cmp::Ordering;

pub trait Dialect {
    fn key_order(a: &str, b: &str) -> Ordering;
    fn write_number(out: &mut String, n: &Number);
    fn write_string(out: &mut String, s: &str);
}

/// `value` as sorted-key JSON in dialect `D`.
pub fn to_text<D: Dialect>(value: &Value) -> String {
    let mut out = String::new();
    write_value::<D>(&mut out, value);
    out
}

fn write_value<D: Dialect>(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => D::write_number(out, n),
        Value::String(s) => D::write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value::<D>(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| D::key_order(a, b));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                D::write_string(out, key);
                out.push(':');
                write_value::<D>(out, &map[key]);
            }
            out.push('}');
        }
    }
}
