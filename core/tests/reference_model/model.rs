//! A small reference evaluator written straight from `docs/policies.md`
//! (plus issue 10 items 2 and 3), deliberately NOT from the engine's code:
//! plain data, plain recursion, no caching, no compilation. The property
//! test (`core/tests/reference_model.rs`) and the fuzz targets
//! (`core/fuzz/`) compare the engine with it.
//!
//! Where the documentation leaves something open, the model says so with
//! [`Outcome::unspecified`] instead of guessing, and the tests skip that
//! case.

#![allow(dead_code)] // each includer uses a different part of the model

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

// ---------------------------------------------------------------- policies

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Path,
    Glob,
    Regex,
    Number,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Path => "path",
            Kind::Glob => "glob",
            Kind::Regex => "regex",
            Kind::Number => "number",
        }
    }
}

/// One entry of `ruleDefinition.arguments`.
#[derive(Debug, Clone)]
pub struct ArgRule {
    pub tools: Vec<String>,
    pub argument: String,
    pub kind: Kind,
    /// `None`: not given. The generators never give an empty list.
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub case_insensitive: bool,
    pub required: bool,
}

/// One policy, as the documentation describes its fields.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub policy_type: String,
    /// block | hard_block | warn | log_only | monitor | require_approval
    pub mode: String,
    pub active: bool,
    /// `None`: the field is absent (every agent). Never an empty list.
    pub applies_to: Option<Vec<String>>,
    pub agent_id: Option<String>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// `None`: absent (deny when `allow` is non-empty, else allow).
    pub default_action: Option<String>,
    pub arguments: Vec<ArgRule>,
}

impl Policy {
    /// The policy in the documented wire format.
    pub fn to_json(&self) -> Value {
        let mut rule = Map::new();
        if let Some(a) = &self.agent_id {
            rule.insert("agentId".into(), json!(a));
        }
        if !self.allow.is_empty() {
            rule.insert("allow".into(), json!(self.allow));
        }
        if !self.deny.is_empty() {
            rule.insert("deny".into(), json!(self.deny));
        }
        if let Some(d) = &self.default_action {
            rule.insert("defaultAction".into(), json!(d));
        }
        if !self.arguments.is_empty() {
            let args: Vec<Value> = self.arguments.iter().map(ArgRule::to_json).collect();
            rule.insert("arguments".into(), Value::Array(args));
        }
        let mut p = Map::new();
        p.insert("id".into(), json!(self.id));
        p.insert("name".into(), json!(self.name));
        p.insert("policyType".into(), json!(self.policy_type));
        p.insert("enforcementMode".into(), json!(self.mode));
        p.insert("isActive".into(), json!(self.active));
        if let Some(a) = &self.applies_to {
            p.insert("appliesToAgents".into(), json!(a));
        }
        p.insert("ruleDefinition".into(), Value::Object(rule));
        Value::Object(p)
    }
}

impl ArgRule {
    pub fn to_json(&self) -> Value {
        let mut r = Map::new();
        r.insert("tools".into(), json!(self.tools));
        r.insert("argument".into(), json!(self.argument));
        r.insert("kind".into(), json!(self.kind.as_str()));
        if let Some(a) = &self.allow {
            r.insert("allow".into(), json!(a));
        }
        if let Some(d) = &self.deny {
            r.insert("deny".into(), json!(d));
        }
        if let Some(m) = self.min {
            r.insert("min".into(), json!(m));
        }
        if let Some(m) = self.max {
            r.insert("max".into(), json!(m));
        }
        if self.case_insensitive {
            r.insert("caseInsensitive".into(), json!(true));
        }
        if self.required {
            r.insert("required".into(), json!(true));
        }
        Value::Object(r)
    }
}

/// The calling agent: its external id and, once the control plane named
/// it, its internal id.
#[derive(Debug, Clone)]
pub struct Agent {
    pub external: String,
    pub internal: Option<String>,
}

impl Agent {
    fn is(&self, id: &str) -> bool {
        self.external == id || self.internal.as_deref() == Some(id)
    }
}

// --------------------------------------------------------------- arguments

/// A JSON value that keeps each number's text: the model reads numbers
/// from the text exactly (issue 10 item 3), without any JSON library's
/// float parser in between.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    /// The number as written in the JSON text.
    Num(String),
    Str(String),
    Arr(Vec<J>),
    /// Keys in order; the generators never repeat a key.
    Obj(Vec<(String, J)>),
}

impl J {
    /// Compact JSON text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render_into(out);
                }
                out.push(']');
            }
            J::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    v.render_into(out);
                }
                out.push('}');
            }
        }
    }

    /// From a parsed value (for the fuzz targets, whose documents come
    /// from arbitrary bytes). Numbers take serde_json's text of them.
    pub fn from_value(v: &Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            Value::Object(o) => J::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), J::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Nesting depth: a scalar is 0, `[]` and `{}` are 1.
    pub fn depth(&self) -> usize {
        match self {
            J::Arr(items) => 1 + items.iter().map(J::depth).max().unwrap_or(0),
            J::Obj(entries) => 1 + entries.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// "JSON nested deeper than 128 levels" cannot be read. The generators
/// stay well away from the exact boundary, which the docs leave open.
pub const MAX_DEPTH: usize = 128;

/// Where an argument rule's `argument` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pointer {
    /// A top-level key (the `argument` does not start with `/`).
    Key(String),
    /// RFC 6901 reference tokens, unescaped.
    Tokens(Vec<String>),
    /// Starts with `/` but is not a valid JSON Pointer (a `~` not followed
    /// by `0` or `1`).
    Invalid,
}

pub fn parse_pointer(argument: &str) -> Pointer {
    let Some(rest) = argument.strip_prefix('/') else {
        return Pointer::Key(argument.to_owned());
    };
    let mut tokens = Vec::new();
    for raw in rest.split('/') {
        let mut token = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => return Pointer::Invalid,
                }
            } else {
                token.push(c);
            }
        }
        tokens.push(token);
    }
    Pointer::Tokens(tokens)
}

/// RFC 6901 array index: `0` or digits without a leading zero.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

fn get<'a>(obj: &'a J, key: &str) -> Option<&'a J> {
    match obj {
        J::Obj(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// The value an argument rule checks; `None`: missing.
pub fn lookup<'a>(args: &'a J, pointer: &Pointer) -> Option<&'a J> {
    match pointer {
        Pointer::Key(k) => get(args, k),
        Pointer::Invalid => None,
        Pointer::Tokens(tokens) => {
            let mut at = args;
            for t in tokens {
                at = match at {
                    J::Obj(_) => get(at, t)?,
                    J::Arr(items) => items.get(array_index(t)?)?,
                    _ => return None,
                };
            }
            Some(at)
        }
    }
}

// ------------------------------------------------------------ name globs

/// Tool-name pattern: `*` any run (also none), `?` exactly one character,
/// nothing else special, whole-string match.
pub fn glob_match(pattern: &str, s: &str, case_insensitive: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    let same =
        |a: char, b: char| a == b || (case_insensitive && a.to_lowercase().eq(b.to_lowercase()));
    // dp[j]: pattern prefix so far matches s[..j]
    let mut dp = vec![false; s.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; s.len() + 1];
        match pc {
            '*' => {
                let mut any = false;
                for j in 0..=s.len() {
                    any |= dp[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=s.len() {
                    next[j] = dp[j - 1] && (pc == '?' || same(pc, s[j - 1]));
                }
            }
        }
        dp = next;
    }
    dp[s.len()]
}

// ------------------------------------------------------------------ paths

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// Relative.
    None,
    /// A leading `/`.
    Slash,
    /// A drive letter and `/` (`C:/`).
    Drive(char),
}

/// A lexically normalised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NPath {
    pub root: Root,
    pub segments: Vec<String>,
    /// Issue 10 item 2: why this path can never count as absolute (a form
    /// a server may resolve differently), if so.
    pub odd: Option<&'static str>,
}

impl NPath {
    /// Absolute in the sense of issue 10 item 2.
    pub fn is_absolute(&self) -> bool {
        self.root != Root::None && self.odd.is_none()
    }

    /// The normalised path as text (`/a/b`, `C:/a`, `a/b`, `.`).
    pub fn render(&self) -> String {
        let body = self.segments.join("/");
        match &self.root {
            Root::Slash => format!("/{body}"),
            Root::Drive(d) => format!("{d}:/{body}"),
            Root::None if body.is_empty() => ".".to_owned(),
            Root::None => body,
        }
    }
}

/// A `file:` URI's path, percent-decoded (RFC 8089: the scheme is
/// case-insensitive; `file:/p` is the authority-less form of `file:///p`;
/// query and fragment are not part of the path; an empty or `localhost`
/// authority is the local machine; `/C:/x` names `C:/x`). `None`: not a
/// file URI. A URI naming another host names the UNC path `//host/p`,
/// which keeps its segments (a relative pattern may match them) and is
/// odd (see [`odd_form`]); `file://C:/x`, a common mistake for
/// `file:///C:/x`, names `C:/x`.
fn file_uri_path(input: &str) -> Option<String> {
    let head = input.get(..5)?;
    if !head.eq_ignore_ascii_case("file:") {
        return None;
    }
    let rest = &input[5..];
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (host, path) = authority_and_path.split_at(
                authority_and_path
                    .find('/')
                    .unwrap_or(authority_and_path.len()),
            );
            let h = host.as_bytes();
            if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
                path.to_owned()
            } else if h.len() == 2 && h[0].is_ascii_alphabetic() && h[1] == b':' {
                format!("{host}{path}")
            } else {
                format!("//{host}{path}")
            }
        }
        None => rest.to_owned(),
    };
    let decoded = percent_decode(&path);
    let b = decoded.as_bytes();
    let drive_after_slash =
        b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':';
    if drive_after_slash && matches!(b.get(3), None | Some(b'/' | b'\\')) {
        return Some(decoded[1..].to_owned());
    }
    Some(decoded)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue 10 item 2: forms that must never count as absolute.
fn odd_form(path: &str) -> Option<&'static str> {
    if path.starts_with('~') {
        return Some("starts with ~");
    }
    if path.starts_with(char::is_whitespace) || path.ends_with(char::is_whitespace) {
        return Some("surrounding whitespace");
    }
    let slashed = path.replace('\\', "/");
    if slashed.starts_with("//?/") || slashed.starts_with("//./") {
        return Some("device path");
    }
    if slashed.starts_with("//") {
        return Some("UNC path");
    }
    let b = slashed.as_bytes();
    let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    if drive && b.get(2) != Some(&b'/') {
        return Some("drive-relative");
    }
    for (i, segment) in slashed.split('/').enumerate() {
        if segment == "." || segment == ".." {
            continue;
        }
        if segment.contains(':') && !(i == 0 && drive && segment.len() == 2) {
            return Some("stream suffix");
        }
        if segment.ends_with('.') || segment.ends_with(char::is_whitespace) {
            return Some("segment ends in a dot or whitespace");
        }
    }
    None
}

/// Lexical normalisation, as `docs/policies.md` lists it: `\` is `/`; a
/// `file://` URI is percent-decoded to its path; empty and `.` segments go;
/// `..` removes the segment before it (never above the root; a relative
/// path keeps its leading `..`s).
pub fn normalise(input: &str) -> NPath {
    let plain = file_uri_path(input).unwrap_or_else(|| input.to_owned());
    let odd = odd_form(&plain);
    let slashed = plain.replace('\\', "/");
    let b = slashed.as_bytes();
    let (root, body) = if let Some(body) = slashed.strip_prefix('/') {
        (Root::Slash, body)
    } else if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        (
            // Kept as written: matching is case-sensitive unless the
            // rule says `caseInsensitive`.
            Root::Drive(b[0] as char),
            &slashed[3..],
        )
    } else {
        (Root::None, &slashed[..])
    };
    let mut segments: Vec<String> = Vec::new();
    for s in body.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                if segments.last().is_some_and(|l| l != "..") {
                    segments.pop();
                } else if root == Root::None {
                    segments.push("..".into());
                }
            }
            s => segments.push(s.to_owned()),
        }
    }
    NPath {
        root,
        segments,
        odd,
    }
}

/// Path pattern: normalised like a value; then `**` (a whole segment) is
/// zero or more segments, the root counting as one that only a root or `**`
/// matches; other segments are name globs within one segment.
pub fn path_match(pattern: &str, path: &NPath, case_insensitive: bool) -> bool {
    let pat = normalise(pattern);
    #[derive(Clone)]
    enum Item<'a> {
        Root(&'a Root),
        Seg(&'a str),
    }
    let mut items: Vec<Item> = Vec::new();
    if path.root != Root::None {
        items.push(Item::Root(&path.root));
    }
    items.extend(path.segments.iter().map(|s| Item::Seg(s)));
    let mut toks: Vec<Option<Item>> = Vec::new(); // None: `**`
    if pat.root != Root::None {
        toks.push(Some(Item::Root(&pat.root)));
    }
    for s in &pat.segments {
        toks.push(if s == "**" { None } else { Some(Item::Seg(s)) });
    }
    // m[i][j]: toks[i..] matches items[j..]
    let (n, k) = (toks.len(), items.len());
    let mut m = vec![vec![false; k + 1]; n + 1];
    m[n][k] = true;
    for i in (0..n).rev() {
        for j in (0..=k).rev() {
            m[i][j] = match &toks[i] {
                None => m[i + 1][j] || (j < k && m[i][j + 1]),
                Some(t) => {
                    j < k
                        && m[i + 1][j + 1]
                        && match (t, &items[j]) {
                            (Item::Root(a), Item::Root(b)) => a == b,
                            (Item::Seg(p), Item::Seg(s)) => glob_match(p, s, case_insensitive),
                            _ => false,
                        }
                }
            };
        }
    }
    m[0][0]
}

// --------------------------------------------------------------- decision

/// What the documentation says must happen: which (policyId, rule,
/// argument) violations and warnings, and whether the control plane must
/// decide too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub violations: BTreeSet<Key>,
    pub warnings: BTreeSet<Key>,
    /// What local `require_approval` policies would block: the client's
    /// approver decides (rule `approval_required`).
    pub approvals: BTreeSet<Key>,
    pub needs_server: bool,
    /// The documentation does not say what happens for this call.
    pub unspecified: Option<String>,
    /// Some path rule failed only because of issue 10 item 2 (the value is
    /// not absolute, the rule's patterns are): the current engine lets it
    /// pass until that work lands.
    pub issue10_item2_decisive: bool,
}

impl Outcome {
    pub fn blocked(&self) -> bool {
        !self.violations.is_empty()
    }
}

/// (policyId, rule, argument)
pub type Key = (String, String, Option<String>);

fn blocking(mode: &str) -> bool {
    matches!(mode, "block" | "hard_block")
}

fn scoped_to(p: &Policy, agent: &Agent) -> bool {
    p.applies_to
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|id| agent.is(id)))
        && p.agent_id.as_deref().is_none_or(|id| agent.is(id))
}

/// The decision for agent `agent` calling `tool` with `args` (`None`: no
/// arguments), per "How one call is decided".
pub fn decide(policies: &[Policy], agent: &Agent, tool: &str, args: Option<&J>) -> Outcome {
    let mut out = Outcome::default();
    for p in policies {
        if !p.active {
            continue;
        }
        let blank = |id: &String| id.trim().is_empty();
        if p.agent_id.as_ref().is_some_and(blank)
            || p.applies_to
                .as_ref()
                .is_some_and(|ids| ids.is_empty() || ids.iter().any(blank))
        {
            // The docs do not say whom an empty id or an empty list scopes.
            out.unspecified = Some("empty agent scope".into());
        }
        if p.policy_type != "tool_invocation" {
            // Another type's ruleDefinition is the control plane's format:
            // only appliesToAgents scopes it here.
            let unscoped = Policy {
                agent_id: None,
                ..p.clone()
            };
            out.needs_server |= scoped_to(&unscoped, agent);
            continue;
        }
        if !scoped_to(p, agent) {
            continue;
        }
        let mut keys: Vec<Key> = Vec::new();
        let key =
            |rule: &str, arg: Option<&str>| (p.id.clone(), rule.to_owned(), arg.map(str::to_owned));
        let default_deny = match p.default_action.as_deref() {
            Some(d) => d == "deny",
            None => !p.allow.is_empty(),
        };
        if p.deny.iter().any(|d| glob_match(d, tool, false)) {
            keys.push(key("deny", None));
        } else if default_deny && !p.allow.iter().any(|a| glob_match(a, tool, false)) {
            keys.push(key("not_allowed", None));
        } else {
            for rule in p
                .arguments
                .iter()
                .filter(|r| r.tools.iter().any(|t| glob_match(t, tool, false)))
            {
                match check_rule(rule, args) {
                    Check::Pass => {}
                    Check::Fail => keys.push(key("argument", Some(&rule.argument))),
                    Check::FailNotAbsolute => {
                        out.issue10_item2_decisive = true;
                        keys.push(key("argument", Some(&rule.argument)));
                    }
                    Check::Unspecified(why) => out.unspecified = Some(why),
                }
            }
        }
        if p.mode == "require_approval" {
            let approval = |(id, _, arg): Key| (id, "approval_required".to_owned(), arg);
            out.approvals.extend(keys.into_iter().map(approval));
            continue;
        }
        let into = if blocking(&p.mode) {
            &mut out.violations
        } else {
            &mut out.warnings
        };
        into.extend(keys);
    }
    out
}

enum Check {
    Pass,
    Fail,
    /// Fails only because of issue 10 item 2.
    FailNotAbsolute,
    Unspecified(String),
}

fn check_rule(rule: &ArgRule, args: Option<&J>) -> Check {
    let empty = |l: &Option<Vec<String>>| l.as_ref().is_some_and(Vec::is_empty);
    if empty(&rule.allow) || empty(&rule.deny) {
        // "must match one of `allow` (when given)": the docs do not say
        // whether `[]` is given.
        return Check::Unspecified("empty allow or deny list".into());
    }
    if args.is_some_and(|a| a.depth() > MAX_DEPTH) {
        return Check::Fail; // unreadable arguments fail every applicable rule
    }
    let pointer = parse_pointer(&rule.argument);
    if pointer == Pointer::Invalid {
        return Check::Unspecified("invalid JSON Pointer in a rule".into());
    }
    let value = args.and_then(|a| lookup(a, &pointer));
    let Some(value) = value else {
        return if rule.required {
            Check::Fail
        } else {
            Check::Pass
        };
    };
    let elements: Vec<&J> = match value {
        J::Arr(items) => items.iter().collect(),
        v => vec![v],
    };
    for e in elements {
        match check_one(rule, e) {
            Check::Pass => {}
            other => return other,
        }
    }
    Check::Pass
}

fn lists(rule: &ArgRule, matches: impl Fn(&str) -> bool) -> Check {
    let allowed = rule
        .allow
        .as_ref()
        .is_none_or(|a| a.iter().any(|p| matches(p)));
    let denied = rule
        .deny
        .as_ref()
        .is_some_and(|d| d.iter().any(|p| matches(p)));
    if allowed && !denied {
        Check::Pass
    } else {
        Check::Fail
    }
}

/// "numbers … as written in JSON": the engine matches a number's text as
/// its JSON library prints the parsed number back (`1e2` → `100.0`), not
/// as the caller wrote it. The two agree on the short, plain forms the
/// generators mostly give; on the others the docs are read either way.
const NUMBER_TEXT: &str = "a number's text that its JSON library reprints differently";

fn reprinted_alike(n: &str) -> bool {
    match serde_json::from_str::<Value>(n) {
        // (Not `v == *n`: a Value equals a str only when it is that string.)
        Ok(v) => {
            let printed = v.to_string();
            printed == n
        }
        Err(_) => false,
    }
}

fn numbers_reprinted_alike(j: &J) -> bool {
    match j {
        J::Num(n) => reprinted_alike(n),
        J::Arr(items) => items.iter().all(numbers_reprinted_alike),
        J::Obj(entries) => entries.iter().all(|(_, v)| numbers_reprinted_alike(v)),
        _ => true,
    }
}

fn check_one(rule: &ArgRule, v: &J) -> Check {
    if matches!(v, J::Arr(_)) {
        return Check::Unspecified("array inside an array".into());
    }
    let non_ascii = |t: &str| !t.is_ascii();
    if rule.case_insensitive
        && rule.kind != Kind::Regex
        && (matches!(v, J::Str(s) if non_ascii(s))
            || rule
                .allow
                .iter()
                .chain(rule.deny.iter())
                .flatten()
                .any(|p| non_ascii(p)))
    {
        // The docs do not say which Unicode case folding applies.
        return Check::Unspecified("case-insensitive non-ASCII text".into());
    }
    match rule.kind {
        Kind::Path => {
            let J::Str(s) = v else { return Check::Fail };
            let path = normalise(s);
            let patterns = rule.allow.iter().chain(rule.deny.iter()).flatten();
            let absolute_rule = patterns.clone().any(|p| normalise(p).root != Root::None);
            let listed = lists(rule, |p| path_match(p, &path, rule.case_insensitive));
            match listed {
                // Issue 10 item 2: a value that is not absolute fails every
                // rule with an absolute pattern, deny-only rules included.
                Check::Pass if absolute_rule && !path.is_absolute() => Check::FailNotAbsolute,
                other => other,
            }
        }
        Kind::Glob => {
            let text = match v {
                J::Str(s) => s.clone(),
                J::Num(n) if !reprinted_alike(n) => return Check::Unspecified(NUMBER_TEXT.into()),
                J::Num(n) => n.clone(),
                J::Bool(b) => b.to_string(),
                _ => return Check::Unspecified("glob of null or object".into()),
            };
            lists(rule, |p| glob_match(p, &text, rule.case_insensitive))
        }
        Kind::Regex => {
            let text = match v {
                J::Str(s) => s.clone(),
                J::Obj(entries) if entries.len() > 1 => {
                    return Check::Unspecified("regex of a multi-key object".into())
                }
                other if !numbers_reprinted_alike(other) => {
                    return Check::Unspecified(NUMBER_TEXT.into())
                }
                other => other.render(),
            };
            let mut compiled = Vec::new();
            for p in rule.allow.iter().chain(rule.deny.iter()).flatten() {
                match regex::RegexBuilder::new(p)
                    .case_insensitive(rule.case_insensitive)
                    .build()
                {
                    Ok(r) => compiled.push((p.as_str(), r)),
                    // The engine refuses such a policy (or bounds its size).
                    Err(_) => return Check::Unspecified("regex that does not compile".into()),
                }
            }
            lists(rule, |p| {
                compiled.iter().any(|(q, r)| *q == p && r.is_match(&text))
            })
        }
        Kind::Number => {
            if rule.min.into_iter().chain(rule.max).any(|b| !b.is_finite()) {
                // Not a JSON number: the policy would carry `null` there.
                return Check::Unspecified("non-finite bound".into());
            }
            let J::Num(n) = v else { return Check::Fail };
            // Issue 10 item 3: the text's correctly rounded double.
            let Ok(x) = n.parse::<f64>() else {
                return Check::Unspecified("not a JSON number".into());
            };
            let ok = rule.min.is_none_or(|m| x >= m) && rule.max.is_none_or(|m| x <= m);
            if ok {
                Check::Pass
            } else {
                Check::Fail
            }
        }
    }
}
