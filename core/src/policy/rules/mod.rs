//! Argument rules (`ruleDefinition.arguments[i]`): their kinds, how each
//! compiles, and the check of one call's arguments.
//!
//! [`RuleKind`] is the one list of kinds; each kind's patterns compile in
//! its own module (`path`, `glob`, `regex`, `number`).
//!
//! Nothing here ever copies an argument's value into a message: failures
//! say which check failed, for which argument (and array element), only.

mod case_fold;
mod glob;
mod number;
mod path;
mod regex;

pub(crate) use glob::Glob;
#[cfg(test)]
pub(crate) use number::cmp_exact;
pub(crate) use number::Bound;
pub(crate) use path::{normalize, NormalPath, PathPattern};
pub(crate) use regex::{PolicyRegex, RegexBudget};

use super::error::{Location, PolicyError};
use super::fields::{one_of, patterns, required_text};
use super::raw::RawArgumentRule;
use serde_json::Value;
use std::borrow::Cow;

/// The kinds of argument rule: what `kind` may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKind {
    Path,
    Glob,
    Regex,
    Number,
}

impl RuleKind {
    pub(crate) const ALL: [RuleKind; 4] = [
        RuleKind::Path,
        RuleKind::Glob,
        RuleKind::Regex,
        RuleKind::Number,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RuleKind::Path => "path",
            RuleKind::Glob => "glob",
            RuleKind::Regex => "regex",
            RuleKind::Number => "number",
        }
    }

    /// This kind's check, from the rule's kind-specific fields. `field` is
    /// the rule's path (`ruleDefinition.arguments[0]`).
    fn compile_check(
        self,
        at: &Location<'_>,
        rule: &mut RawArgumentRule,
        field: &str,
        case_insensitive: bool,
        budget: &mut RegexBudget,
    ) -> Result<Check, PolicyError> {
        let f = |key: &str| format!("{field}.{key}");
        if self == RuleKind::Number {
            for (key, present) in [
                ("allow", rule.allow.is_some()),
                ("deny", rule.deny.is_some()),
            ] {
                if present {
                    return Err(at.err(
                        f(key),
                        "is only for path, glob and regex rules (use min and max for numbers)",
                    ));
                }
            }
            let min = rule.min.take().map(|n| Bound::new(n.0));
            let max = rule.max.take().map(|n| Bound::new(n.0));
            if let (Some(min), Some(max)) = (&min, &max) {
                if min.cmp_bound(max).is_gt() {
                    return Err(at.err(
                        f("min"),
                        format!("min {} is above max {}", min.as_f64(), max.as_f64()),
                    ));
                }
            }
            return Ok(Check::Number { min, max });
        }
        for (key, present) in [("min", rule.min.is_some()), ("max", rule.max.is_some())] {
            if present {
                return Err(at.err(f(key), "is only for number rules"));
            }
        }
        // `allow: []` is ambiguous ("nothing allowed", or "no allowlist"),
        // and the wrong guess lets every value through: refuse it.
        if rule.allow.as_ref().is_some_and(|l| l.0.is_empty()) {
            return Err(at.err(
                f("allow"),
                "is empty: list the values to let through, or leave allow out",
            ));
        }
        let allow = patterns(at, rule.allow.take(), &f("allow"))?;
        let deny = patterns(at, rule.deny.take(), &f("deny"))?;
        Ok(match self {
            RuleKind::Path => {
                let compile = |list: &[String]| {
                    list.iter()
                        .map(|p| PathPattern::new(p, case_insensitive))
                        .collect()
                };
                Check::path(compile(&allow), compile(&deny))
            }
            RuleKind::Glob => {
                let compile = |list: &[String]| {
                    list.iter()
                        .map(|p| Glob::new(p, case_insensitive))
                        .collect()
                };
                Check::Glob {
                    allow: compile(&allow),
                    deny: compile(&deny),
                }
            }
            RuleKind::Regex => {
                let mut compile = |list: &[String], key: &str| {
                    list.iter()
                        .enumerate()
                        .map(|(i, p)| {
                            budget
                                .compile(p, case_insensitive)
                                .map_err(|message| at.err(format!("{}[{i}]", f(key)), message))
                        })
                        .collect::<Result<Vec<_>, PolicyError>>()
                };
                Check::Regex {
                    allow: compile(&allow, "allow")?,
                    deny: compile(&deny, "deny")?,
                }
            }
            RuleKind::Number => unreachable!("handled above"),
        })
    }
}

/// Checks that `pointer` (starting with `/`) only uses the escapes `~0`
/// and `~1`.
fn valid_pointer(pointer: &str) -> bool {
    let b = pointer.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, &c)| c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

/// How the rule finds its value in the arguments.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// A top-level key of the arguments object.
    Key(String),
    /// A JSON Pointer (RFC 6901), already validated.
    Pointer(String),
}

impl Lookup {
    /// The value in the call's arguments (`None`: absent, or no arguments).
    pub(crate) fn find<'a>(&self, args: Option<&'a Value>) -> Option<&'a Value> {
        args.and_then(|args| match self {
            Lookup::Key(key) => args.as_object().and_then(|o| o.get(key)),
            Lookup::Pointer(pointer) => args.pointer(pointer),
        })
    }
}

/// What the value must satisfy.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    Path {
        allow: Vec<PathPattern>,
        deny: Vec<PathPattern>,
        /// Some pattern is absolute: a value that is not (see
        /// `path::is_fully_qualified`) fails the rule.
        absolute_only: bool,
    },
    Glob {
        allow: Vec<Glob>,
        deny: Vec<Glob>,
    },
    Regex {
        allow: Vec<PolicyRegex>,
        deny: Vec<PolicyRegex>,
    },
    Number {
        min: Option<Bound>,
        max: Option<Bound>,
    },
}

impl Check {
    /// A path check; absolute patterns make it refuse non-absolute values.
    pub(crate) fn path(allow: Vec<PathPattern>, deny: Vec<PathPattern>) -> Check {
        let absolute_only = allow.iter().chain(&deny).any(PathPattern::is_absolute);
        Check::Path {
            allow,
            deny,
            absolute_only,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArgumentRule {
    tools: Vec<Glob>,
    argument: String,
    lookup: Lookup,
    check: Check,
    required: bool,
}

/// Why a value fails a rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FailureKind {
    Missing,
    Denied,
    NotAllowed,
    NotString,
    /// A path rule with absolute patterns got a path that is not absolute.
    NotAbsolute,
    NotNumber,
    BelowMin(f64),
    AboveMax(f64),
}

/// A failed check: what failed and, for an array value, which element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    pub(crate) element: Option<usize>,
}

impl Failure {
    /// The violation message. Names the argument, tool and policy; never
    /// the value.
    pub(crate) fn message(&self, argument: &str, tool: &str, policy: &str) -> String {
        let subject = match self.element {
            Some(i) => format!("element {i} of argument {argument:?} of tool {tool:?}"),
            None => format!("argument {argument:?} of tool {tool:?}"),
        };
        match &self.kind {
            FailureKind::Missing => format!("{subject} is missing (required by policy {policy:?})"),
            FailureKind::Denied => {
                format!("{subject} matches a denied pattern of policy {policy:?}")
            }
            FailureKind::NotAllowed => {
                format!("{subject} matches no allowed pattern of policy {policy:?}")
            }
            FailureKind::NotString => format!("{subject} must be a string (policy {policy:?})"),
            FailureKind::NotAbsolute => format!(
                "{subject} is not an absolute path, which policy {policy:?} requires \
                 (a server resolves other forms on its own)"
            ),
            FailureKind::NotNumber => format!("{subject} is not a number (policy {policy:?})"),
            FailureKind::BelowMin(min) => {
                format!("{subject} is below the minimum {min} of policy {policy:?}")
            }
            FailureKind::AboveMax(max) => {
                format!("{subject} is above the maximum {max} of policy {policy:?}")
            }
        }
    }
}

/// The message when the call's arguments are not readable JSON: the policy
/// fails closed. `reason` never contains the text.
pub(crate) fn unreadable_message(tool: &str, reason: &str, policy: &str) -> String {
    format!(
        "arguments of tool {tool:?} could not be read ({reason}); policy {policy:?} fails closed"
    )
}

impl ArgumentRule {
    /// Validates and compiles one raw rule found at `field`.
    pub(crate) fn compile(
        at: &Location<'_>,
        mut rule: RawArgumentRule,
        field: &str,
        budget: &mut RegexBudget,
    ) -> Result<ArgumentRule, PolicyError> {
        let f = |key: &str| format!("{field}.{key}");
        let tools = match rule.tools.take() {
            None => return Err(at.err(f("tools"), "is required")),
            Some(list) if list.0.is_empty() => {
                return Err(at.err(f("tools"), "must list at least one tool pattern"))
            }
            Some(list) => patterns(at, Some(list), &f("tools"))?
                .iter()
                .map(|p| Glob::new(p, false))
                .collect(),
        };
        let argument = required_text(at, rule.argument.take(), &f("argument"))?;
        let lookup = if argument.starts_with('/') {
            if !valid_pointer(&argument) {
                return Err(at.err(
                    f("argument"),
                    format!("invalid JSON Pointer {argument:?} (`~` must be followed by 0 or 1)"),
                ));
            }
            Lookup::Pointer(argument.clone())
        } else {
            Lookup::Key(argument.clone())
        };
        let kind = required_text(at, rule.kind.take(), &f("kind"))?;
        let names = RuleKind::ALL.map(RuleKind::as_str);
        let kind_name = one_of(at, &f("kind"), &kind, &names)?;
        let kind = RuleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind_name)
            .expect("validated");
        let case_insensitive = rule.case_insensitive.is_some_and(|b| b.0);
        let required = rule.required.is_some_and(|b| b.0);
        let check = kind.compile_check(at, &mut rule, field, case_insensitive, budget)?;
        Ok(ArgumentRule::new(tools, argument, lookup, check, required))
    }

    pub(crate) fn new(
        tools: Vec<Glob>,
        argument: String,
        lookup: Lookup,
        check: Check,
        required: bool,
    ) -> Self {
        Self {
            tools,
            argument,
            lookup,
            check,
            required,
        }
    }

    /// The `argument` field as written (for messages).
    pub(crate) fn argument(&self) -> &str {
        &self.argument
    }

    /// True when one of the rule's `tools` patterns matches `tool`.
    pub(crate) fn applies_to(&self, tool: &str) -> bool {
        self.tools.iter().any(|p| p.matches(tool))
    }

    /// The rule's check.
    pub(crate) fn kind_check(&self) -> &Check {
        &self.check
    }

    /// True when the argument must be present.
    pub(crate) fn required(&self) -> bool {
        self.required
    }

    /// How the rule finds its value.
    pub(crate) fn lookup(&self) -> &Lookup {
        &self.lookup
    }

    /// The rule's value in the call's arguments, if present.
    pub(crate) fn value<'a>(&self, args: Option<&'a Value>) -> Option<&'a Value> {
        self.lookup.find(args)
    }

    /// Checks the call's arguments (`None`: the call has none).
    pub(crate) fn check(&self, args: Option<&Value>) -> Result<(), Failure> {
        match self.value(args) {
            None if self.required => Err(Failure {
                kind: FailureKind::Missing,
                element: None,
            }),
            None => Ok(()),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_one(item).map_err(|kind| Failure {
                        kind,
                        element: Some(i),
                    })?;
                }
                Ok(())
            }
            Some(value) => self.check_one(value).map_err(|kind| Failure {
                kind,
                element: None,
            }),
        }
    }

    fn check_one(&self, value: &Value) -> Result<(), FailureKind> {
        match &self.check {
            Check::Path {
                allow,
                deny,
                absolute_only,
            } => {
                let Value::String(s) = value else {
                    return Err(FailureKind::NotString);
                };
                let path = normalize(s);
                if *absolute_only && !path.qualified {
                    return Err(FailureKind::NotAbsolute);
                }
                lists(allow, deny, |p| p.matches(&path))
            }
            Check::Glob { allow, deny } => {
                let text = as_text(value);
                lists(allow, deny, |p| p.matches(&text))
            }
            Check::Regex { allow, deny } => {
                let text = as_text(value);
                lists(allow, deny, |r| r.is_match(text.as_ref()))
            }
            Check::Number { min, max } => {
                let Value::Number(n) = value else {
                    return Err(FailureKind::NotNumber);
                };
                if let Some(min) = min {
                    if min.cmp_value(n).is_lt() {
                        return Err(FailureKind::BelowMin(min.as_f64()));
                    }
                }
                if let Some(max) = max {
                    if max.cmp_value(n).is_gt() {
                        return Err(FailureKind::AboveMax(max.as_f64()));
                    }
                }
                Ok(())
            }
        }
    }
}

/// Deny first: a value matching any denied pattern fails; otherwise, when
/// there is an allowlist, the value must match one of its patterns.
fn lists<P>(allow: &[P], deny: &[P], matches: impl Fn(&P) -> bool) -> Result<(), FailureKind> {
    if deny.iter().any(&matches) {
        Err(FailureKind::Denied)
    } else if !allow.is_empty() && !allow.iter().any(&matches) {
        Err(FailureKind::NotAllowed)
    } else {
        Ok(())
    }
}

/// A value as text for glob and regex rules: strings as they are, numbers,
/// booleans and `null` as written in JSON, objects and arrays as compact
/// JSON.
pub(crate) fn as_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed("null"),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::Number(n) => Cow::Owned(n.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(argument: &str, check: Check, required: bool) -> ArgumentRule {
        let lookup = if argument.starts_with('/') {
            Lookup::Pointer(argument.to_owned())
        } else {
            Lookup::Key(argument.to_owned())
        };
        ArgumentRule::new(
            vec![Glob::new("*", false)],
            argument.to_owned(),
            lookup,
            check,
            required,
        )
    }

    fn path_rule(allow: &[&str], deny: &[&str]) -> ArgumentRule {
        rule(
            "path",
            Check::path(
                allow.iter().map(|p| PathPattern::new(p, false)).collect(),
                deny.iter().map(|p| PathPattern::new(p, false)).collect(),
            ),
            false,
        )
    }

    fn bound(v: Value) -> Bound {
        match v {
            Value::Number(n) => Bound::new(n),
            _ => unreachable!(),
        }
    }

    fn kind(r: &ArgumentRule, args: Value) -> Option<FailureKind> {
        r.check(Some(&args)).err().map(|f| f.kind)
    }

    #[test]
    fn path_allow_and_deny() {
        let r = path_rule(&["/srv/data/**"], &["/etc/**", "**/.ssh/**"]);
        assert_eq!(kind(&r, json!({"path": "/srv/data/a.txt"})), None);
        assert_eq!(kind(&r, json!({"path": "/srv/data"})), None);
        assert_eq!(
            kind(&r, json!({"path": "/srv/data/../../etc/passwd"})),
            Some(FailureKind::Denied)
        );
        assert_eq!(
            kind(&r, json!({"path": "/srv/data/u/.ssh/id"})),
            Some(FailureKind::Denied)
        );
        assert_eq!(
            kind(&r, json!({"path": "/tmp/x"})),
            Some(FailureKind::NotAllowed)
        );
        // Relative: fails closed (issue 10 item 2), saying why.
        assert_eq!(
            kind(&r, json!({"path": "srv/data/x"})),
            Some(FailureKind::NotAbsolute)
        );
        assert_eq!(kind(&r, json!({"path": 3})), Some(FailureKind::NotString));
        assert_eq!(
            kind(&r, json!({"path": null})),
            Some(FailureKind::NotString)
        );
        assert_eq!(
            kind(&r, json!({"path": {"p": "/srv/data/x"}})),
            Some(FailureKind::NotString)
        );
        // Missing and not required: passes.
        assert_eq!(kind(&r, json!({"other": "/etc/passwd"})), None);
        assert_eq!(r.check(None), Ok(()));
        assert_eq!(kind(&r, json!(["/etc/passwd"])), None);
        assert_eq!(kind(&r, json!("path")), None);
    }

    #[test]
    fn path_rule_without_lists_only_requires_a_string() {
        let r = path_rule(&[], &[]);
        assert_eq!(kind(&r, json!({"path": "anything"})), None);
        assert_eq!(
            kind(&r, json!({"path": true})),
            Some(FailureKind::NotString)
        );
    }

    #[test]
    fn arrays_are_checked_element_by_element() {
        let r = path_rule(&["/srv/data/**"], &[]);
        assert_eq!(
            kind(&r, json!({"path": ["/srv/data/a", "/srv/data/b"]})),
            None
        );
        assert_eq!(kind(&r, json!({"path": []})), None);
        let f = r
            .check(Some(&json!({"path": ["/srv/data/a", "/etc/x", "/tmp/y"]})))
            .unwrap_err();
        assert_eq!(f.kind, FailureKind::NotAllowed);
        assert_eq!(f.element, Some(1));
        assert_eq!(
            kind(&r, json!({"path": ["/srv/data/a", ["/srv/data/b"]]})),
            Some(FailureKind::NotString)
        );
    }

    #[test]
    fn required() {
        let mut r = path_rule(&[], &["/etc/**"]);
        r.required = true;
        assert_eq!(kind(&r, json!({})), Some(FailureKind::Missing));
        assert_eq!(
            r.check(None).unwrap_err().kind,
            FailureKind::Missing,
            "no arguments at all"
        );
        assert_eq!(kind(&r, json!([1, 2])), Some(FailureKind::Missing));
        assert_eq!(kind(&r, json!({"path": "/x"})), None);
        // null is present.
        assert_eq!(
            kind(&r, json!({"path": null})),
            Some(FailureKind::NotString)
        );
        assert_eq!(kind(&r, json!({"path": []})), None);
    }

    #[test]
    fn json_pointer_lookup_with_escapes() {
        let number = |ptr: &str| {
            rule(
                ptr,
                Check::Number {
                    min: None,
                    max: Some(bound(json!(100))),
                },
                true,
            )
        };
        let r = number("/order/amount");
        assert_eq!(kind(&r, json!({"order": {"amount": 50}})), None);
        assert_eq!(
            kind(&r, json!({"order": {"amount": 150}})),
            Some(FailureKind::AboveMax(100.0))
        );
        assert_eq!(kind(&r, json!({"order": {}})), Some(FailureKind::Missing));
        assert_eq!(kind(&r, json!({"order": 3})), Some(FailureKind::Missing));
        let r = number("/a~1b/c~0d");
        assert_eq!(
            kind(&r, json!({"a/b": {"c~d": 500}})),
            Some(FailureKind::AboveMax(100.0))
        );
        assert_eq!(kind(&r, json!({"a/b": {"c~d": 5}})), None);
        let r = number("/items/1/qty");
        assert_eq!(
            kind(&r, json!({"items": [{"qty": 1}, {"qty": 101}]})),
            Some(FailureKind::AboveMax(100.0))
        );
        // A key with a slash is not a pointer when it does not start with /.
        let r = number("a/b");
        assert_eq!(
            kind(&r, json!({"a/b": 101})),
            Some(FailureKind::AboveMax(100.0))
        );
        assert_eq!(
            kind(&r, json!({"a": {"b": 101}})),
            Some(FailureKind::Missing)
        );
    }

    #[test]
    fn number_bounds_inclusive() {
        let r = rule(
            "n",
            Check::Number {
                min: Some(bound(json!(-1.5))),
                max: Some(bound(json!(100))),
            },
            false,
        );
        for ok in [
            json!(-1.5),
            json!(0),
            json!(100),
            json!(99.999),
            json!([1, 2, 3]),
        ] {
            assert_eq!(kind(&r, json!({ "n": ok })), None);
        }
        assert_eq!(
            kind(&r, json!({"n": 100.0001})),
            Some(FailureKind::AboveMax(100.0))
        );
        assert_eq!(
            kind(&r, json!({"n": -2})),
            Some(FailureKind::BelowMin(-1.5))
        );
        assert_eq!(
            kind(&r, json!({"n": u64::MAX})),
            Some(FailureKind::AboveMax(100.0))
        );
        assert_eq!(
            kind(&r, json!({"n": i64::MIN})),
            Some(FailureKind::BelowMin(-1.5))
        );
        assert_eq!(kind(&r, json!({"n": "5"})), Some(FailureKind::NotNumber));
        assert_eq!(kind(&r, json!({"n": null})), Some(FailureKind::NotNumber));
        assert_eq!(kind(&r, json!({"n": true})), Some(FailureKind::NotNumber));
        assert_eq!(
            kind(&r, json!({"n": [1, "x"]})),
            Some(FailureKind::NotNumber)
        );
        let any = rule(
            "n",
            Check::Number {
                min: None,
                max: None,
            },
            false,
        );
        assert_eq!(kind(&any, json!({"n": 1e300})), None);
        assert_eq!(kind(&any, json!({"n": "1"})), Some(FailureKind::NotNumber));
    }

    #[test]
    fn glob_values() {
        let r = rule(
            "table",
            Check::Glob {
                allow: vec![Glob::new("public_*", false), Glob::new("4?", false)],
                deny: vec![Glob::new("*secret*", true)],
            },
            false,
        );
        assert_eq!(kind(&r, json!({"table": "public_users"})), None);
        assert_eq!(
            kind(&r, json!({"table": "public_SECRETS"})),
            Some(FailureKind::Denied)
        );
        assert_eq!(
            kind(&r, json!({"table": "Public_users"})),
            Some(FailureKind::NotAllowed)
        );
        assert_eq!(kind(&r, json!({"table": 42})), None);
        assert_eq!(
            kind(&r, json!({"table": 420})),
            Some(FailureKind::NotAllowed)
        );
        assert_eq!(
            kind(&r, json!({"table": null})),
            Some(FailureKind::NotAllowed)
        );
        assert_eq!(kind(&r, json!({"table": ["public_a", 41]})), None);
    }

    #[test]
    fn regex_values() {
        let re = |p: &str, ci: bool| RegexBudget::default().compile(p, ci).unwrap();
        let r = rule(
            "sql",
            Check::Regex {
                allow: vec![re(r"^\s*select\b", true)],
                deny: vec![re(r"drop|delete", false)],
            },
            false,
        );
        assert_eq!(kind(&r, json!({"sql": "  SELECT * FROM t"})), None);
        assert_eq!(
            kind(&r, json!({"sql": "select 1; drop table t"})),
            Some(FailureKind::Denied)
        );
        assert_eq!(
            kind(&r, json!({"sql": "update t set x = 1"})),
            Some(FailureKind::NotAllowed)
        );
        // Case-sensitive deny does not see DROP.
        assert_eq!(kind(&r, json!({"sql": "select 1; DROP table t"})), None);

        let r = rule(
            "v",
            Check::Regex {
                allow: vec![re("^(null|true|12\\.5|\\{\"a\":1\\}|x)$", false)],
                deny: vec![],
            },
            false,
        );
        for ok in [
            json!(null),
            json!(true),
            json!(12.5),
            json!({"a": 1}),
            json!(["x", true]),
        ] {
            assert_eq!(kind(&r, json!({ "v": ok })), None, "{ok}");
        }
        assert_eq!(kind(&r, json!({"v": false})), Some(FailureKind::NotAllowed));
        assert_eq!(
            kind(&r, json!({"v": [[ "x" ]]})),
            Some(FailureKind::NotAllowed)
        );
    }

    #[test]
    fn messages_name_argument_tool_policy_never_value() {
        let f = Failure {
            kind: FailureKind::Denied,
            element: None,
        };
        assert_eq!(
            f.message("path", "read_file", "P"),
            "argument \"path\" of tool \"read_file\" matches a denied pattern of policy \"P\""
        );
        let f = Failure {
            kind: FailureKind::AboveMax(100.0),
            element: Some(2),
        };
        assert_eq!(
            f.message("amount", "refund", "P"),
            "element 2 of argument \"amount\" of tool \"refund\" is above the maximum 100 of policy \"P\""
        );
        for kind in [
            FailureKind::Missing,
            FailureKind::NotAllowed,
            FailureKind::NotString,
            FailureKind::NotNumber,
            FailureKind::BelowMin(0.5),
        ] {
            let m = Failure {
                kind,
                element: None,
            }
            .message("a", "t", "P");
            assert!(m.starts_with("argument \"a\" of tool \"t\" "), "{m}");
            assert!(m.contains("policy \"P\""), "{m}");
        }
    }

    #[test]
    fn pointer_validation() {
        for ok in ["/a", "/a~0b", "/a~1b", "/", "/~0~1", "/a/0/b"] {
            assert!(valid_pointer(ok), "{ok}");
        }
        for bad in ["/~", "/a~2", "/~~0", "/x~a"] {
            assert!(!valid_pointer(bad), "{bad}");
        }
    }
}
