//! Local approvals: a local `tool_invocation` policy in `require_approval`
//! mode is evaluated here, and what it would block waits for the client's
//! approver; without one, it is refused (never an outage, never let
//! through).

use execlave_core::engine::local_approval::LocalVerdict;
use execlave_core::sync::approval::ApprovalFailure;
use execlave_core::{Completion, Governor, GovernorOptions, Outcome, Undecided};
use serde_json::{json, Value};
use std::path::Path;

fn governor(dir: &Path, approver: bool, extra: Value) -> Governor {
    let mut options = json!({
        "policies": [{
            "name": "Writes need a human", "policyType": "tool_invocation",
            "enforcementMode": "require_approval",
            "ruleDefinition": { "deny": ["write_file"] }
        }],
        "auditLog": dir.join("audit.jsonl"),
        "localApprover": approver,
        // The old default that let such calls through: no longer consulted.
        "enforcementOnOutage": "fail_open",
    });
    for (k, v) in extra.as_object().unwrap() {
        options[k] = v.clone();
    }
    Governor::new(serde_json::from_value::<GovernorOptions>(options).unwrap()).unwrap()
}

fn records(g: &Governor, dir: &Path) -> Vec<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let g2 = g.clone();
    g.run_async(async move { g2.flush().await }, move |_| {
        tx.send(()).unwrap()
    });
    rx.recv().unwrap();
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write(g: &Governor, h: u32) -> Outcome {
    g.decide(
        h,
        "write_file".into(),
        Some(r#"{"path":"/x"}"#.into()),
        true,
        false,
    )
    .unwrap()
}

#[test]
fn without_an_approver_the_call_is_refused_naming_the_policy_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path(), false, json!({}));
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let outcome = write(&g, h);
    let Outcome::Block { violations, .. } = &outcome else {
        panic!("refused, not an outage: {outcome:?}")
    };
    assert_eq!(violations[0].rule.as_deref(), Some("approval_required"));
    let message = outcome.message().unwrap();
    assert!(message.contains("Writes need a human"), "{message}");
    assert!(message.contains("approver"), "{message}");
    // The shortcut never allows it either; other tools go through.
    assert_eq!(g.decide_by_tool(h, "write_file"), Err(Undecided::Other));
    assert!(g.decide_by_tool(h, "read_file").is_ok());
    let recs = records(&g, dir.path());
    assert_eq!(recs[0]["status"], "policy_blocked");
    assert_eq!(recs[0]["errorType"], "PolicyBlockedError");
}

fn held(g: &Governor, h: u32) -> u64 {
    let outcome = write(g, h);
    let Outcome::AskApprover {
        ticket, violations, ..
    } = &outcome
    else {
        panic!("held for the approver: {outcome:?}")
    };
    assert_eq!(violations[0].rule.as_deref(), Some("approval_required"));
    assert_eq!(g.stats().approvals_waiting, 1);
    *ticket
}

#[test]
fn an_approved_call_goes_ahead_and_its_record_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path(), true, json!({}));
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let ticket = held(&g, h);
    let outcome = g.settle_local_approval(ticket, LocalVerdict::Approved);
    assert!(
        matches!(outcome, Outcome::Allow { ticket: Some(t), .. } if t == ticket),
        "{outcome:?}"
    );
    g.complete(ticket, Completion::answered(None));
    let stats = g.stats();
    assert_eq!((stats.approvals_waiting, stats.approvals_granted), (0, 1));
    let recs = records(&g, dir.path());
    assert_eq!(recs[0]["status"], "success");
    assert_eq!(recs[0]["metadata"]["approval"]["id"], "local");
    assert_eq!(recs[0]["metadata"]["approval"]["outcome"], "granted");
}

#[test]
fn denied_failed_and_unanswered_approvals_refuse() {
    let cases = [
        (
            LocalVerdict::Denied {
                reason: Some("no".into()),
            },
            ApprovalFailure::Denied,
            "PolicyDeniedError",
        ),
        (
            LocalVerdict::Failed("the approver threw: boom".into()),
            ApprovalFailure::Unverifiable,
            "ApprovalVerificationError",
        ),
        (
            LocalVerdict::TimedOut,
            ApprovalFailure::TimedOut,
            "ApprovalTimeoutError",
        ),
    ];
    for (verdict, failure, error_type) in cases {
        let dir = tempfile::tempdir().unwrap();
        let g = governor(dir.path(), true, json!({}));
        let h = g.register_agent("ops-agent", None, None, true).unwrap();
        let ticket = held(&g, h);
        let outcome = g.settle_local_approval(ticket, verdict);
        let Outcome::ApprovalRefused { refusal } = &outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(refusal.failure, failure);
        assert_eq!(refusal.approval_request_id, "local");
        // Settled once: a second answer finds nothing.
        assert_eq!(
            g.settle_local_approval(ticket, LocalVerdict::Approved),
            Outcome::Cancelled
        );
        let stats = g.stats();
        assert_eq!((stats.approvals_waiting, stats.approvals_refused), (0, 1));
        let recs = records(&g, dir.path());
        assert_eq!(recs[0]["status"], "policy_blocked");
        assert_eq!(recs[0]["errorType"], error_type);
    }
}

#[test]
fn a_cancelled_local_approval_is_recorded_and_not_counted_as_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path(), true, json!({}));
    let h = g.register_agent("ops-agent", None, None, true).unwrap();
    let ticket = held(&g, h);
    assert!(g.cancel(ticket));
    assert_eq!(g.stats().approvals_waiting, 0);
    assert_eq!(
        g.settle_local_approval(ticket, LocalVerdict::Approved),
        Outcome::Cancelled
    );
    let recs = records(&g, dir.path());
    assert_eq!(recs[0]["errorType"], "Cancelled");
}

#[test]
fn monitor_mode_makes_it_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let g = governor(dir.path(), false, json!({}));
    let h = g.register_agent("ops-agent", None, None, false).unwrap();
    let outcome = write(&g, h);
    let Outcome::Allow { warnings, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(warnings[0].rule.as_deref(), Some("approval_required"));
}
