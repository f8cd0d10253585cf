//! A typo in `policyType` cannot switch a local policy off (issue 10,
//! item 9). Without an API key nothing can evaluate a type other than
//! `tool_invocation`, so such a local policy is an error naming the file,
//! the policy and the field. With an API key, a local policy of a
//! server-side type sends its agents' calls to the control plane, but a
//! near miss of `tool_invocation` is still an error: its rules would be
//! read by no one.

use execlave_core::agent::AgentIdentity;
use execlave_core::policy::{load_path, ControlPlane, PolicySet, SourcedPolicy};
use execlave_core::Governor;
use serde_json::{json, Value};

fn policy(policy_type: &str) -> Value {
    json!({
        "name": "Guard",
        "policyType": policy_type,
        "enforcementMode": "block",
        "ruleDefinition": {"deny": ["write_file"]}
    })
}

const TYPOS: [&str; 6] = [
    "tool-invocation",
    "Tool_Invocation",
    "TOOL_INVOCATION",
    "tool invocation",
    "tool_invokation",
    "toolinvocation",
];

#[test]
fn without_a_control_plane_any_other_type_is_an_error() {
    for t in TYPOS
        .iter()
        .chain(&["rbac", "content_filter", "data_access"])
    {
        let sourced = SourcedPolicy::from_values([policy(t)]);
        for result in [
            PolicySet::compile_strict(&sourced),
            PolicySet::compile_strict_with(&sourced, ControlPlane::Absent),
        ] {
            let e = result.expect_err(t);
            assert_eq!(e.policy().as_deref(), Some("Guard"), "{e}");
            assert_eq!(e.field(), Some("policyType"), "{e}");
            assert!(e.message().contains(&format!("{t:?}")), "{e}");
            assert!(e.message().contains("need an API key"), "{e}");
        }
    }
    // Inactive today, active tomorrow: checked all the same.
    let mut off = policy("tool-invocation");
    off["isActive"] = json!(false);
    assert!(PolicySet::compile_strict(&SourcedPolicy::from_values([off])).is_err());
}

#[test]
fn the_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guard.yaml");
    std::fs::write(
        &file,
        "name: Guard\npolicyType: Tool_Invocation\nenforcementMode: block\n\
         ruleDefinition:\n  deny: [write_file]\n",
    )
    .unwrap();
    let e = PolicySet::compile_strict(&load_path(&file).unwrap()).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}: policy \"Guard\": policyType: ",
            file.display()
        )),
        "{e}"
    );
    assert_eq!(e.file(), Some(file.as_path()));
}

#[test]
fn the_constructor_throws_in_local_mode() {
    for inline in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("guard.json");
        std::fs::write(&file, policy("tool-invocation").to_string()).unwrap();
        let policies = if inline {
            json!([policy("tool-invocation")])
        } else {
            json!(file)
        };
        let options = serde_json::from_value(json!({ "policies": policies })).unwrap();
        let message = match Governor::new(options) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a local tool-invocation policy was accepted"),
        };
        assert!(
            message.contains("policy \"Guard\": policyType:"),
            "{message}"
        );
        assert!(message.contains("need an API key"), "{message}");
        if !inline {
            assert!(message.contains(&file.display().to_string()), "{message}");
        }
    }
}

#[test]
fn with_a_control_plane_server_types_are_kept_and_typos_are_errors() {
    let ops = AgentIdentity::new("ops-agent");
    for t in ["rbac", "content_filter", "data_access"] {
        let set = PolicySet::compile_strict_with(
            &SourcedPolicy::from_values([policy(t)]),
            ControlPlane::Present,
        )
        .expect(t);
        let d = set.evaluate(&ops, "write_file", None);
        assert!(d.needs_server && !d.is_blocked(), "{t}: {d:?}");
    }
    for t in TYPOS {
        let e = PolicySet::compile_strict_with(
            &SourcedPolicy::from_values([policy(t)]),
            ControlPlane::Present,
        )
        .expect_err(t);
        assert_eq!(e.field(), Some("policyType"), "{e}");
        assert!(
            e.message().contains("did you mean \"tool_invocation\""),
            "{e}"
        );
    }
    // The real thing is evaluated locally in both modes.
    for cp in [ControlPlane::Absent, ControlPlane::Present] {
        let set = PolicySet::compile_strict_with(
            &SourcedPolicy::from_values([policy("tool_invocation")]),
            cp,
        )
        .unwrap();
        assert!(set.evaluate(&ops, "write_file", None).is_blocked());
    }
}

#[test]
fn control_plane_policies_of_any_type_are_left_to_the_server() {
    // The control plane validates its own types: nothing changes there.
    let (set, errors) = PolicySet::compile_lenient(&SourcedPolicy::from_values([
        policy("content_filter"),
        policy("rbac"),
    ]));
    assert!(errors.is_empty());
    assert!(
        set.evaluate(&AgentIdentity::new("a"), "x", None)
            .needs_server
    );
}

#[test]
fn the_constructor_with_an_api_key_keeps_server_types_and_refuses_typos() {
    let options = |policy_type: &str| {
        serde_json::from_value(json!({
            "apiKey": "exe_dev_testkey",
            // Nothing listens there: the constructor does not wait for it.
            "baseUrl": "http://127.0.0.1:9",
            "policies": [policy(policy_type)],
        }))
        .unwrap()
    };
    assert!(Governor::new(options("content_filter")).is_ok());
    let message = match Governor::new(options("Tool-Invocation")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a near miss of tool_invocation was accepted"),
    };
    assert!(
        message.contains("did you mean \"tool_invocation\""),
        "{message}"
    );
}
