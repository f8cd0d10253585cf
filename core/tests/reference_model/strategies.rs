//! Random policy sets and calls for the reference-model test.
//!
//! Values whose meaning issue 10 changes (items 2 and 3) come from their own,
//! clearly named strategies, switched on by [`Mix`]: until the policy work
//! lands, the engine is expected to disagree with the model on them.

use super::model::{Agent, ArgRule, Kind, Policy, J};
use proptest::prelude::*;
use proptest::sample::select;

/// Which value generators a run uses besides the ones both the current and
/// the issue-10 semantics agree on.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Relative paths and odd forms (`~`, whitespace, `C:foo`, `\\?\`,
    /// UNC, `name:stream`, `name.`): issue 10 item 2.
    pub issue10_item2_paths: bool,
    /// Numbers one ULP beyond a bound, written shortest-round-trip:
    /// issue 10 item 3.
    pub issue10_item3_numbers: bool,
}

pub const CURRENT: Mix = Mix {
    issue10_item2_paths: false,
    issue10_item3_numbers: false,
};
pub const ISSUE10: Mix = Mix {
    issue10_item2_paths: true,
    issue10_item3_numbers: true,
};

#[derive(Debug, Clone)]
pub struct Call {
    pub agent: Agent,
    pub tool: String,
    pub args: Option<J>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub policies: Vec<Policy>,
    pub calls: Vec<Call>,
}

const TOOLS: &[&str] = &[
    "read_file",
    "read_text_file",
    "write_file",
    "list_dir",
    "query",
    "refund",
    "run_command",
    "a*b",
    "axb",
    "x?y",
    "*",
    "READ_FILE",
    "",
];
const TOOL_PATTERNS: &[&str] = &[
    "read_*",
    "*_file",
    "write_file",
    "*",
    "?ead_file",
    "list_*",
    "a*b",
    "x?y",
    "a\\*b",
    "*file*",
    "query",
    "refund",
    "READ_*",
    "??",
];
const AGENT_IDS: &[&str] = &["ops-agent", "support-agent", "agt_1", "agt_2"];
/// Where argument rules point, per kind: the keys the generated arguments
/// use, JSON Pointers with `~0`/`~1` escapes and array indexes (`01` is
/// not one), a top-level key containing `/`, and missing ones.
const PATH_ARGUMENTS: &[&str] = &[
    "path", "path", "items", "/items/1", "a/b", "/a~1b", "missing",
];
const NUMBER_ARGUMENTS: &[&str] = &[
    "amount",
    "/order/amount",
    "/order/amount",
    "items",
    "/items/0",
    "/missing/x",
];
const TEXT_ARGUMENTS: &[&str] = &[
    "sql",
    "a/b",
    "/x~0y",
    "amount",
    "items",
    "/order",
    "path",
    "/items/01",
];
const WORDS: &[&str] = &[
    "select * from t",
    "  SELECT 1",
    "rm -rf /",
    "abc",
    "A1",
    "true",
    "",
    "12",
    "\u{e9}t\u{e9}",
];
const GLOBS: &[&str] = &[
    "*", "a*", "A*", "*1", "?", "select*", "true", "1?", "*rm*", "abc", "12",
];
const REGEXES: &[&str] = &[
    r"^\s*select\b",
    r"\brm\b",
    r"^[0-9]+$",
    "true",
    "null",
    "^a",
    r"\{",
    "^$",
    r"\.5$",
];
const PATH_PATTERNS: &[&str] = &[
    "/srv/data/**",
    "/etc/**",
    "/srv/*/passwd",
    "/srv/data",
    "/",
    "/**",
    "/e?c/**",
    "\\srv\\data\\**",
    "file:///etc/**",
    "/srv/data/../../etc/**",
    "/SRV/**",
    "/srv/data/*",
    "**/.ssh/**",
    "**/passwd",
    "**",
    "**/id_*",
    "/**/.ssh/**",
];
/// Segments of generated paths: traversal, `.`, empty (doubled
/// separators), dot files, mixed case.
const SEGMENTS: &[&str] = &[
    "srv", "data", "etc", "passwd", ".ssh", "id_rsa", "..", ".", "", "a", "SRV", "x*y",
];
const MODES: &[&str] = &[
    "block",
    "hard_block",
    "warn",
    "log_only",
    "monitor",
    "require_approval",
];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(items).prop_map(str::to_owned)
}

fn list(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(pick(items), 1..=max)
}

// ----------------------------------------------------------------- paths

/// Absolute paths both semantics agree on: one leading `/` or `\`, then
/// segments with `..`, `.`, empty ones, mixed separators; sometimes as a
/// `file://` URI with percent-encoded characters (`%2E%2E` is `..`).
pub fn absolute_path_value() -> impl Strategy<Value = String> {
    prop_oneof![3 => any_absolute_path(), 1 => climbing_path()]
}

/// `/srv/data/../../etc/passwd` and the like, climbing out of a tree (and
/// past the root) with `..` segments, some percent-encoded in a URI.
fn climbing_path() -> impl Strategy<Value = String> {
    (
        1..4usize,
        pick(&["/etc/passwd", "/.ssh/id_rsa", "/data/x", ""]),
        0..3u8,
    )
        .prop_map(|(ups, tail, form)| match form {
            0 => format!("/srv/data{}{tail}", "/..".repeat(ups)),
            1 => format!(
                "\\srv\\data{}{}",
                "\\..".repeat(ups),
                tail.replace('/', "\\")
            ),
            _ => format!("file:///srv/data{}{tail}", "/%2E%2E".repeat(ups)),
        })
}

fn any_absolute_path() -> impl Strategy<Value = String> {
    let sep = select(&['/', '\\'][..]);
    (
        sep.clone(),
        pick(&["srv", "etc", "..", ".", "a", "SRV"]),
        prop::collection::vec((sep, pick(SEGMENTS)), 0..6),
        0..4u8,
        any::<u64>(),
    )
        .prop_map(|(lead, first, rest, form, noise)| {
            let mut path = format!("{lead}{first}");
            for (s, seg) in &rest {
                path.push(*s);
                path.push_str(seg);
            }
            match form {
                0 => format!("file://{}", percent_encode(&path.replace('\\', "/"), noise)),
                1 => format!("file://localhost{}", percent_encode(&path, noise)),
                _ => path,
            }
        })
}

/// Percent-encodes some characters after the leading `/` (which stays, so
/// the decoded path keeps a single leading separator).
fn percent_encode(path: &str, noise: u64) -> String {
    let mut out = String::from("/");
    for (i, c) in path[1..].chars().enumerate() {
        if (noise >> (i % 64)) & 1 == 1 && c.is_ascii() {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    out
}

/// Issue 10 item 2: relative paths and the odd forms that must fail every
/// absolute path rule, deny-only rules included.
pub fn issue10_item2_path_value() -> impl Strategy<Value = String> {
    let fixed = pick(&[
        "secret/key.txt",
        "./secret/key.txt",
        "x/../secret/key.txt",
        "../etc/passwd",
        "etc/passwd",
        ".",
        "~/.ssh/id_rsa",
        "~root/.ssh/id_rsa",
        " /etc/passwd",
        "/etc/passwd ",
        "\t/etc/passwd",
        "C:foo",
        "C:",
        "c:etc\\passwd",
        "\\\\?\\C:\\etc\\passwd",
        "\\\\.\\pipe\\x",
        "//./pipe/x",
        "\\\\server\\share\\etc\\passwd",
        "//server/share/etc/passwd",
        "/etc/passwd:stream",
        "/etc/passwd::$DATA",
        "/etc./passwd",
        "/etc /passwd",
        "/srv/data/secret.",
        "/srv/data/x..",
        "file://server/etc/passwd",
        "file:///etc/passwd%20",
        "file:/etc/passwd",
    ]);
    let built = (
        absolute_path_value(),
        pick(&["~", " ", "C:", "x/", "\\\\h\\s", "./"]),
    )
        .prop_map(|(p, prefix)| {
            let p = p
                .trim_start_matches("file://localhost")
                .trim_start_matches("file://");
            format!("{prefix}{}", p.trim_start_matches(['/', '\\']))
        });
    prop_oneof![fixed, built]
}

fn path_value(mix: Mix) -> BoxedStrategy<String> {
    if mix.issue10_item2_paths {
        prop_oneof![absolute_path_value(), issue10_item2_path_value()].boxed()
    } else {
        absolute_path_value().boxed()
    }
}

// --------------------------------------------------------------- numbers

/// Numbers that any JSON parser reads exactly: integers and short binary
/// fractions near the bounds below.
pub fn exact_number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (-10i64..=110).prop_map(|n| n.to_string()),
        (-40i64..=440).prop_map(|q| format!("{}", q as f64 / 4.0)),
    ]
}

fn exact_bound() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-5i64..=105).prop_map(|n| n as f64),
        (-10i64..=210).prop_map(|h| h as f64 / 2.0)
    ]
}

/// Bounds whose neighbours need every bit of the double to tell apart.
const TIGHT_BOUNDS: &[f64] = &[100.0, 0.1, -1.0, 1e-5, 1e21, 2.5e-300];

fn next_toward(x: f64, up: bool) -> f64 {
    // f64::next_up is newer than the crate's MSRV.
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if up { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let away = (x > 0.0) == up;
    f64::from_bits(if away { bits + 1 } else { bits - 1 })
}

/// Issue 10 item 3: a tight bound or one ULP either side of it, written
/// shortest-round-trip (`100.00000000000001`) or in exponent form.
pub fn issue10_item3_number_text() -> impl Strategy<Value = String> {
    (select(TIGHT_BOUNDS), 0..3u8, any::<bool>()).prop_map(|(b, side, exp)| {
        let x = match side {
            0 => b,
            1 => next_toward(b, true),
            _ => next_toward(b, false),
        };
        if exp {
            format!("{x:e}")
        } else {
            format!("{x}")
        }
    })
}

fn number_text(mix: Mix) -> BoxedStrategy<String> {
    if mix.issue10_item3_numbers {
        prop_oneof![1 => exact_number_text(), 3 => issue10_item3_number_text()].boxed()
    } else {
        exact_number_text().boxed()
    }
}

fn bound(mix: Mix) -> BoxedStrategy<f64> {
    if mix.issue10_item3_numbers {
        prop_oneof![1 => exact_bound(), 3 => select(TIGHT_BOUNDS)].boxed()
    } else {
        exact_bound().boxed()
    }
}

// ------------------------------------------------------------- arguments

fn scalar(mix: Mix) -> impl Strategy<Value = J> {
    prop_oneof![
        3 => path_value(mix).prop_map(J::Str),
        3 => number_text(mix).prop_map(J::Num),
        2 => pick(WORDS).prop_map(J::Str),
        1 => any::<bool>().prop_map(J::Bool),
        1 => Just(J::Null),
    ]
}

fn value(mix: Mix) -> impl Strategy<Value = J> {
    prop_oneof![
        5 => scalar(mix),
        1 => prop::collection::vec(scalar(mix), 0..4).prop_map(J::Arr),
    ]
}

/// `[[[…]]]` nested far beyond the documented 128 levels.
fn too_deep() -> J {
    (0..200).fold(J::Num("1".into()), |inner, _| J::Arr(vec![inner]))
}

fn args(mix: Mix) -> impl Strategy<Value = Option<J>> {
    let entry = |key: &'static str, v: BoxedStrategy<J>| {
        prop::option::weighted(0.7, v).prop_map(move |v| v.map(|v| (key.to_owned(), v)))
    };
    let object = (
        entry(
            "path",
            prop_oneof![3 => path_value(mix).prop_map(J::Str), 1 => value(mix)].boxed(),
        ),
        entry(
            "amount",
            prop_oneof![3 => number_text(mix).prop_map(J::Num), 1 => value(mix)].boxed(),
        ),
        entry(
            "order",
            value(mix)
                .prop_map(|v| J::Obj(vec![("amount".into(), v)]))
                .boxed(),
        ),
        entry("sql", value(mix).boxed()),
        entry("a/b", value(mix).boxed()),
        entry("x~y", value(mix).boxed()),
        entry(
            "items",
            prop::collection::vec(scalar(mix), 0..3)
                .prop_map(J::Arr)
                .boxed(),
        ),
    )
        .prop_map(|(a, b, c, d, e, f, g)| {
            J::Obj([a, b, c, d, e, f, g].into_iter().flatten().collect())
        });
    prop_oneof![
        18 => object.prop_map(Some),
        1 => Just(None),
        1 => Just(Some(J::Obj(vec![("path".into(), too_deep())]))),
    ]
}

// -------------------------------------------------------------- policies

fn arg_rule(mix: Mix) -> impl Strategy<Value = ArgRule> {
    let kind_and_argument = prop_oneof![
        (Just(Kind::Path), pick(PATH_ARGUMENTS)),
        (Just(Kind::Number), pick(NUMBER_ARGUMENTS)),
        (select(&[Kind::Glob, Kind::Regex][..]), pick(TEXT_ARGUMENTS)),
    ];
    (
        prop_oneof![2 => Just(vec!["*".to_owned()]), 1 => list(TOOL_PATTERNS, 2)],
        kind_and_argument,
        any::<(bool, bool, bool, bool)>(),
        (prop::option::of(bound(mix)), prop::option::of(bound(mix))),
        (list(PATH_PATTERNS, 3), list(PATH_PATTERNS, 3)),
        (list(GLOBS, 2), list(GLOBS, 2)),
        (list(REGEXES, 2), list(REGEXES, 2)),
    )
        .prop_map(
            |(
                tools,
                (kind, argument),
                (has_allow, has_deny, ci, required),
                (lo, hi),
                paths,
                globs,
                regexes,
            )| {
                let (allow, deny) = match kind {
                    Kind::Path => paths,
                    Kind::Glob => globs,
                    Kind::Regex => regexes,
                    Kind::Number => (vec![], vec![]),
                };
                let numeric = kind == Kind::Number;
                let (min, max) = match (lo, hi) {
                    (Some(a), Some(b)) if a > b => (Some(b), Some(a)),
                    other => other,
                };
                ArgRule {
                    tools,
                    argument,
                    kind,
                    allow: (has_allow && !numeric).then_some(allow),
                    deny: (has_deny && !numeric).then_some(deny),
                    min: min.filter(|_| numeric),
                    max: max.filter(|_| numeric),
                    case_insensitive: ci && !numeric,
                    required,
                }
            },
        )
}

fn policy(mix: Mix) -> impl Strategy<Value = Policy> {
    (
        prop_oneof![3 => Just("block"), 1 => Just("hard_block"), 2 => Just("warn"), 1 => select(MODES)],
        prop::bool::weighted(0.9),
        prop::option::weighted(0.3, list(AGENT_IDS, 2)),
        prop::option::weighted(0.2, pick(AGENT_IDS)),
        prop_oneof![2 => Just(vec![]), 1 => list(TOOL_PATTERNS, 3)],
        prop_oneof![2 => Just(vec![]), 1 => list(TOOL_PATTERNS, 2)],
        prop::option::weighted(0.25, select(&["allow", "deny"][..])),
        prop::collection::vec(arg_rule(mix), 0..3),
    )
        .prop_map(|(mode, active, applies_to, agent_id, allow, deny, default_action, arguments)| Policy {
            id: String::new(),
            name: String::new(),
            policy_type: "tool_invocation".into(),
            mode: mode.into(),
            active,
            applies_to,
            agent_id,
            allow,
            deny,
            default_action: default_action.map(str::to_owned),
            arguments,
        })
}

fn call(mix: Mix) -> impl Strategy<Value = Call> {
    (
        pick(&["ops-agent", "support-agent"]),
        prop::option::of(pick(&["agt_1", "agt_2"])),
        pick(TOOLS),
        args(mix),
    )
        .prop_map(|(external, internal, tool, args)| Call {
            agent: Agent { external, internal },
            tool,
            args,
        })
}

pub fn case(mix: Mix) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(policy(mix), 1..=4),
        prop::collection::vec(call(mix), 1..=4),
    )
        .prop_map(|(mut policies, calls)| {
            for (i, p) in policies.iter_mut().enumerate() {
                p.id = format!("pol_{i}");
                p.name = format!("Policy {i}");
            }
            Case { policies, calls }
        })
}
