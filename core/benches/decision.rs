//! The decision alone, as the policy set grows (issue 11): 10, 200, 2 000
//! and 10 000 policies, every tenth scoped to the calling agent, each with
//! a path rule on `read_file`. Every call reads another file (distinct
//! argument values), so nothing is answered from a cache of values; the
//! (agent, tool) plan is cached, as it is for every call but the first.
//!
//! Bar: at most 1 µs median at 10 000 policies. `cargo bench -p
//! execlave-core --bench decision`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use execlave_core::agent::AgentIdentity;
use execlave_core::policy::{PolicySet, SourcedPolicy};
use serde_json::{json, Value};
use std::hint::black_box;

const SIZES: [usize; 4] = [10, 200, 2_000, 10_000];
const AGENT: &str = "bench-agent";

/// Policy `i`: scoped to the bench agent when `i` is a multiple of 10,
/// else to another agent; a path rule on `read_file` with patterns of its
/// own, so no two policies share a pattern but `**/.ssh/**`.
fn policy(i: usize) -> Value {
    let agent = if i.is_multiple_of(10) {
        AGENT.to_owned()
    } else {
        format!("other-agent-{i}")
    };
    json!({
        "id": format!("pol_{i:05}"),
        "name": format!("Policy {i}"),
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "appliesToAgents": [agent],
        "ruleDefinition": {
            "arguments": [{
                "tools": ["read_file"],
                "argument": "path",
                "kind": "path",
                "allow": ["/srv/data/**", format!("/srv/tenants/t{i}/**")],
                "deny": [format!("/srv/data/private-{i}/**"), "**/.ssh/**"],
            }]
        }
    })
}

fn decision(c: &mut Criterion) {
    let agent = AgentIdentity::new(AGENT);
    // Distinct values: more than the benchmark's iterations per sample
    // reuse, each a different file.
    let calls: Vec<String> = (0..4096)
        .map(|k| json!({ "path": format!("/srv/data/d{}/report-{k}.txt", k % 61) }).to_string())
        .collect();
    let mut group = c.benchmark_group("decision");
    for n in SIZES {
        let set = PolicySet::compile_strict(&SourcedPolicy::from_values((0..n).map(policy)))
            .expect("valid policies");
        // Warm the plan, and check that the calls are allowed: a refusal
        // would measure something else.
        let first = set.evaluate(&agent, "read_file", Some(&calls[0]));
        assert!(first.is_clean(), "{first:?}");
        let denied = set.evaluate(
            &agent,
            "read_file",
            Some(r#"{"path": "/srv/data/private-0/x"}"#),
        );
        assert!(denied.is_blocked());
        let mut k = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(set.evaluate(&agent, "read_file", Some(black_box(&calls[k]))))
            })
        });
    }
    group.finish();
}

/// The first call of an (agent, tool) pair after the policy set changed:
/// its plan, combined matchers included, is built then. A clone of a set
/// shares its compiled policies but not its plans.
fn first_call(c: &mut Criterion) {
    let agent = AgentIdentity::new(AGENT);
    let args = r#"{"path": "/srv/data/report.txt"}"#;
    let mut group = c.benchmark_group("first_call");
    group.sample_size(10);
    for n in SIZES {
        let set = PolicySet::compile_strict(&SourcedPolicy::from_values((0..n).map(policy)))
            .expect("valid policies");
        group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
            b.iter(|| {
                let fresh = set.clone();
                black_box(fresh.evaluate(&agent, "read_file", Some(args)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decision, first_call);
criterion_main!(benches);
