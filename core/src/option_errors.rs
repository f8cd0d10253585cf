//! Option errors people can act on (issue 19): the option's name and what
//! it may be, never a parser's position (`at line 1 column 61` points into
//! JSON the host built, not anything the user wrote), and never the value
//! of `apiKey`.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads `json` as `T`; the error names the option (`enforcementOnOutage`)
/// and says what it may be.
pub(crate) fn read_options<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    // Through a `Value` first: its deserialiser's errors carry no position.
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("the options are not valid JSON: {e}"))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let option = e.path().to_string();
        explain(&option, &e.into_inner().to_string())
    })
}

/// `option: what is wrong`, from serde's message.
fn explain(option: &str, serde_says: &str) -> String {
    if option == "apiKey" {
        // Whatever was given, it may be (part of) the key: never echo it.
        return "apiKey must be a string (your Execlave API key)".into();
    }
    if let Some(rest) = serde_says.strip_prefix("unknown variant ") {
        let quoted = backticked(rest);
        if let Some((given, allowed)) = quoted.split_first() {
            return format!("{option} must be {}, not {given:?}", either(allowed));
        }
    }
    if serde_says.contains("untagged enum PolicyInput") {
        return format!(
            "{option} must be a path (a string) to a policy file or folder, or an array of policy objects"
        );
    }
    for (rust, plain) in [
        ("expected u64", "a whole number of 0 or more"),
        ("expected usize", "a whole number of 0 or more"),
        ("expected a boolean", "true or false"),
        ("expected a string", "a string"),
    ] {
        if serde_says.contains(rust) {
            return format!("{option} must be {plain}, not {}", given(serde_says));
        }
    }
    format!("{option}: {serde_says}")
}

/// The texts between backticks: serde's `unknown variant `x`, expected `a` or `b``.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn either(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    match quoted.split_last() {
        None => "one of the documented values".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// What serde says was given: `-1` from "invalid value: integer `-1`,
/// expected u64", `a string` from "invalid type: string \"x\", …".
fn given(serde_says: &str) -> String {
    let found = serde_says
        .split_once(": ")
        .map_or(serde_says, |(_, r)| r)
        .split(", expected")
        .next()
        .unwrap_or_default();
    match backticked(found).first() {
        Some(v) => (*v).to_owned(),
        None => found.split(' ').next().unwrap_or(found).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use crate::options::GovernorOptions;

    fn error(json: &str) -> String {
        super::read_options::<GovernorOptions>(json).unwrap_err()
    }

    #[test]
    fn errors_name_the_option_and_its_values_without_positions() {
        let e = error(r#"{"policies": [], "enforcementOnOutage": "closed"}"#);
        assert_eq!(
            e,
            r#"enforcementOnOutage must be "fail_open" or "fail_closed", not "closed""#
        );
        let e = error(r#"{"policies": [], "flushIntervalMs": -1}"#);
        assert_eq!(
            e,
            "flushIntervalMs must be a whole number of 0 or more, not -1"
        );
        let e = error(r#"{"policies": [], "debug": "yes"}"#);
        assert_eq!(e, "debug must be true or false, not string");
        let e = error(r#"{"policies": 5}"#);
        assert!(e.starts_with("policies must be a path"), "{e}");
        let e = error(r#"{"enforcement": "remote-ish", "policies": []}"#);
        assert_eq!(
            e,
            r#"enforcement must be "local" or "remote", not "remote-ish""#
        );
        for e in [
            error(r#"{"policies": [], "enforcementOnOutage": "closed"}"#),
            error(r#"{"policies": [], "bufferSize": 1.5}"#),
        ] {
            assert!(!e.contains("line") && !e.contains("column"), "{e}");
        }
    }

    #[test]
    fn the_api_key_is_never_echoed() {
        let e = error(r#"{"apiKey": ["exe_dev_secret_123"]}"#);
        assert!(!e.contains("secret"), "{e}");
        assert!(e.starts_with("apiKey"), "{e}");
    }
}
