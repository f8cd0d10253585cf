//! Relative and non-canonical paths fail closed (issue 10, item 2).
//!
//! MCP servers resolve a relative path against their own roots, and
//! Windows rewrites some forms (`name.`, `name `, `\\?\…`, `C:foo`) before
//! opening them: a path rule whose patterns are absolute cannot tell what
//! file such a value names, so the value fails the rule, even a rule with
//! only a deny list.

use execlave_core::agent::AgentIdentity;
use execlave_core::decision::Decision;
use execlave_core::policy::{PolicySet, SourcedPolicy};
use serde_json::json;

fn set(rule: serde_json::Value) -> PolicySet {
    let policy = json!({
        "name": "Secrets",
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": {"arguments": [rule]}
    });
    PolicySet::compile_strict(&SourcedPolicy::from_values([policy])).unwrap()
}

fn deny_secret() -> PolicySet {
    set(
        json!({"tools": ["read_file"], "argument": "path", "kind": "path",
               "deny": ["/srv/app/secret/**"]}),
    )
}

fn read(set: &PolicySet, path: &str) -> Decision {
    let args = json!({ "path": path }).to_string();
    set.evaluate(&AgentIdentity::new("a"), "read_file", Some(&args))
}

#[track_caller]
fn assert_not_absolute(set: &PolicySet, path: &str) {
    let d = read(set, path);
    assert!(d.is_blocked(), "{path:?} got through");
    let message = &d.violations[0].message;
    assert!(
        message.contains("is not an absolute path"),
        "{path:?}: {message}"
    );
}

#[test]
fn relative_paths_fail_a_deny_only_rule() {
    let s = deny_secret();
    for path in [
        "secret/key.txt",
        "./secret/key.txt",
        "x/../secret/key.txt",
        "key.txt",
        "../app/secret/key.txt",
        ".",
        "",
    ] {
        assert_not_absolute(&s, path);
    }
    // Absolute paths are decided by the patterns, as before.
    assert!(read(&s, "/srv/app/public/a.txt").is_clean());
    assert!(read(&s, "/srv/app/secret/key.txt").is_blocked());
    assert!(read(&s, "/srv/app/x/../secret/key.txt").is_blocked());
    assert!(read(&s, "\\srv\\app\\secret\\key.txt").is_blocked());
    assert!(read(&s, "file:///srv/app/secret/key.txt").is_blocked());
    assert!(read(&s, "/").is_clean());
}

#[test]
fn odd_forms_are_not_absolute() {
    let s = deny_secret();
    for path in [
        // Home directory.
        "~/secret/key.txt",
        "~",
        "~root/secret",
        // Surrounding whitespace.
        " /srv/app/secret/key.txt",
        "/srv/app/secret/key.txt ",
        "\t/srv/app/secret/key.txt",
        "/srv/app/secret/key.txt\n",
        // Drive-relative.
        "C:secret\\key.txt",
        "c:key.txt",
        "C:",
        // Device paths.
        "\\\\?\\C:\\srv\\app\\secret\\key.txt",
        "\\\\.\\C:\\srv\\app\\secret\\key.txt",
        "//?/C:/srv/app/secret/key.txt",
        // UNC.
        "\\\\server\\share\\srv\\app\\secret\\key.txt",
        "//server/share/key.txt",
        "\\/server/share",
        "file://server/share/key.txt",
        // NTFS streams.
        "/srv/app/secret:stream",
        "/srv/app/secret/key.txt::$DATA",
        "C:\\srv\\app\\secret::$INDEX_ALLOCATION\\key.txt",
        // Segments ending in a dot or a space (Windows drops them).
        "/srv/app/secret./key.txt",
        "/srv/app/secret /key.txt",
        "/srv/app./secret/key.txt",
        "/srv/app/secret/key.txt.",
        "/srv/app/secret.../key.txt",
    ] {
        assert_not_absolute(&s, path);
    }
}

#[test]
fn drive_paths_and_file_uris_are_absolute() {
    let s = set(
        json!({"tools": ["read_file"], "argument": "path", "kind": "path",
                       "deny": ["C:/secret/**"], "caseInsensitive": true}),
    );
    assert!(read(&s, "C:\\data\\x.txt").is_clean());
    assert!(read(&s, "c:/data/x.txt").is_clean());
    assert!(read(&s, "file:///C:/data/x.txt").is_clean());
    assert!(read(&s, "C:\\").is_clean());
    let d = read(&s, "C:\\Secret\\key.txt");
    assert!(d.violations[0].message.contains("denied pattern"), "{d:?}");
    assert_not_absolute(&s, "C:secret\\key.txt");
}

#[test]
fn allow_lists_say_not_absolute_too() {
    let s = set(
        json!({"tools": ["read_file"], "argument": "path", "kind": "path",
                       "allow": ["/srv/data/**"]}),
    );
    assert!(read(&s, "/srv/data/a.txt").is_clean());
    assert_not_absolute(&s, "srv/data/a.txt");
    assert_not_absolute(&s, "/srv/data/a.txt ");
    // Each element of an array.
    let args = json!({"path": ["/srv/data/a", "data/b"]}).to_string();
    let d = s.evaluate(&AgentIdentity::new("a"), "read_file", Some(&args));
    assert!(
        d.violations[0]
            .message
            .starts_with("element 1 of argument \"path\"")
            && d.violations[0].message.contains("is not an absolute path"),
        "{d:?}"
    );
}

#[test]
fn rules_with_only_relative_patterns_still_match_relative_paths() {
    // `**/.ssh/**` is written for any path, relative ones included.
    let s = set(
        json!({"tools": ["read_file"], "argument": "path", "kind": "path",
                       "deny": ["**/.ssh/**"]}),
    );
    assert!(read(&s, "u/.ssh/id_rsa").is_blocked());
    assert!(read(&s, "/home/u/.ssh/id_rsa").is_blocked());
    assert!(read(&s, "notes/todo.txt").is_clean());
    // A path rule with no patterns only asks for a string.
    let s = set(json!({"tools": ["read_file"], "argument": "path", "kind": "path"}));
    assert!(read(&s, "relative").is_clean());
}
