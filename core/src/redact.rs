//! Removing the API key from text, whoever wrote it. The server may echo
//! the key back in an error message, a violation or a policy, upper-cased
//! or otherwise re-cased; nothing it sends may carry the key into an
//! error, a log line or a record. A leaf module: the control-plane client
//! redacts what it reads, the logger redacts every line as a last net.

use serde_json::Value;

/// What stands in for the key.
pub const REDACTED: &str = "[redacted]";

/// `s` with every occurrence of `key` replaced, ASCII case ignored.
pub fn redact_key(s: String, key: &str) -> String {
    let hits = key_occurrences(&s, key);
    if hits.is_empty() {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut from = 0;
    for start in hits {
        out.push_str(&s[from..start]);
        out.push_str(REDACTED);
        from = start + key.len();
    }
    out.push_str(&s[from..]);
    out
}

/// Redacts the key from every string and object key of a parsed answer.
pub fn redact_value(value: &mut Value, key: &str) {
    match value {
        Value::String(text) if !key_occurrences(text, key).is_empty() => {
            *text = redact_key(std::mem::take(text), key);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, key)),
        Value::Object(map) => {
            let leaking: Vec<String> = map
                .keys()
                .filter(|k| !key_occurrences(k, key).is_empty())
                .cloned()
                .collect();
            for k in leaking {
                if let Some(v) = map.remove(&k) {
                    map.insert(redact_key(k, key), v);
                }
            }
            map.values_mut().for_each(|v| redact_value(v, key));
        }
        _ => {}
    }
}

/// Byte offsets of the non-overlapping occurrences of `key` in `s`, ASCII
/// case ignored. A key travels in a header, so it is ASCII, and its
/// matches start and end on character boundaries of `s`; a non-ASCII key
/// is matched exactly.
fn key_occurrences(s: &str, key: &str) -> Vec<usize> {
    let (hay, needle) = (s.as_bytes(), key.as_bytes());
    if needle.is_empty() {
        return Vec::new();
    }
    if !key.is_ascii() {
        return s.match_indices(key).map(|(i, _)| i).collect();
    }
    let mut hits = Vec::new();
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i..i + needle.len()].eq_ignore_ascii_case(needle) {
            hits.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "exe_live_Ab12Cd34";

    #[test]
    fn the_key_is_redacted_in_any_letter_case() {
        let upper = KEY.to_uppercase();
        let text = format!("a {KEY} b {upper} c é{KEY}");
        assert_eq!(
            redact_key(text, KEY),
            "a [redacted] b [redacted] c é[redacted]"
        );
        assert_eq!(redact_key("no key here".into(), KEY), "no key here");
        assert_eq!(redact_key("anything".into(), ""), "anything");
    }

    #[test]
    fn every_string_and_key_of_an_answer_is_redacted() {
        let upper = KEY.to_uppercase();
        let mut v = json!({ "m": [format!("x{upper}")], upper.clone(): { "n": KEY } });
        redact_value(&mut v, KEY);
        assert_eq!(
            v,
            json!({ "m": ["x[redacted]"], "[redacted]": { "n": "[redacted]" } })
        );
    }
}
