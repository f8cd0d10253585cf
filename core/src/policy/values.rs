//! The values path: a host reads the few argument values a plan's rules
//! read (the plan's [`ArgumentPlan`]) and hands over just those, as
//! strings and numbers, instead of the whole arguments as JSON text.
//!
//! It only ever answers "clean" (every rule passes, nothing to report):
//! anything else (a failure, a warning, a value of a shape it does not
//! take) is left to the full decision on the JSON text, which then says
//! and records why. So it cannot differ from the full decision in what it
//! refuses, only in how fast it allows.

use super::rules::Lookup;

/// An argument's value as the host read it from the call's arguments, at
/// one of the plan's lookups.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgumentValue {
    /// The lookup finds nothing (no such key or element, no arguments).
    Missing,
    /// A JSON string.
    Text(String),
    /// A JSON number (finite; `-0` is `0`, as JSON writes it).
    Number(f64),
    /// A JSON array of strings and numbers (any other element: not
    /// clean, the full decision takes it).
    List(Vec<ArgumentValue>),
}

/// Where one value is in the arguments: the pointer's tokens, unescaped.
/// `object_only`: a plain key (`argument: "path"`), read from an arguments
/// object only; a JSON Pointer also indexes arrays (RFC 6901: `0` or a
/// number without leading zeros).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentLookup {
    pub tokens: Vec<String>,
    pub object_only: bool,
}

/// What the values path of one (agent, tool) plan needs: its id (a call
/// names it, so that values read for an older plan are never checked
/// against a newer one) and the lookups whose values it takes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentPlan {
    pub id: u64,
    pub lookups: Vec<ArgumentLookup>,
}

/// The values path's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValuesVerdict {
    /// Every rule passes and nothing needs reporting: allowed.
    Clean,
    /// The plan is no longer the one named: ask for the new one.
    Stale,
    /// Anything else: the full decision must be made (with the JSON).
    NeedsFull,
}

impl ArgumentLookup {
    /// The tokens of `lookup`, unescaped as `serde_json::Value::pointer`
    /// unescapes them (`~1` first, then `~0`), so a host that walks them
    /// finds what the full decision finds.
    pub(crate) fn of(lookup: &Lookup) -> ArgumentLookup {
        match lookup {
            Lookup::Key(key) => ArgumentLookup {
                tokens: vec![key.clone()],
                object_only: true,
            },
            Lookup::Pointer(pointer) => ArgumentLookup {
                tokens: pointer
                    .split('/')
                    .skip(1)
                    .map(|t| t.replace("~1", "/").replace("~0", "~"))
                    .collect(),
                object_only: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_unescaped_as_serde_does() {
        let of = |p: &str| ArgumentLookup::of(&Lookup::Pointer(p.into())).tokens;
        assert_eq!(of("/a/b"), ["a", "b"]);
        assert_eq!(of("/a~1b/~0c"), ["a/b", "~c"]);
        assert_eq!(of("/~01"), ["~1"]);
        assert_eq!(of("/"), [""]);
        assert_eq!(of("/a//"), ["a", "", ""]);
        let key = ArgumentLookup::of(&Lookup::Key("a/b".into()));
        assert_eq!(key.tokens, ["a/b"]);
        assert!(key.object_only);
    }
}
