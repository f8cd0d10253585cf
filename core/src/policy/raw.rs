//! A policy as written: serde types that check every field's JSON type.
//!
//! Deserialising a policy's `Value` into [`RawPolicy`] (through
//! `serde_path_to_error`, for the field path) rejects a field of the wrong
//! type with the message users see (`must be a string, not number`).
//! What types cannot say (required fields, empty strings, known modes and
//! kinds, `min` above `max`) is checked when compiling (`compile.rs`).
//!
//! Every field is optional here: `null` counts as absent (the control plane
//! may send `"severity": null`), and a required field that is absent is
//! reported by `compile.rs` as `is required`. Unknown fields are ignored.
//! `ruleDefinition` stays raw JSON until the policy is known to be a
//! `tool_invocation` policy: other types are checked for the common fields
//! only.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Number, Value};
use std::fmt;
use std::marker::PhantomData;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPolicy {
    pub(crate) id: Option<Text>,
    pub(crate) name: Option<Text>,
    pub(crate) policy_type: Option<Text>,
    pub(crate) enforcement_mode: Option<Text>,
    pub(crate) is_active: Option<Flag>,
    pub(crate) applies_to_agents: Option<List<Text>>,
    pub(crate) severity: Option<Text>,
    pub(crate) rule_definition: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRuleDefinition {
    pub(crate) agent_id: Option<Text>,
    pub(crate) allow: Option<List<Text>>,
    pub(crate) deny: Option<List<Text>>,
    pub(crate) default_action: Option<Text>,
    pub(crate) arguments: Option<List<Object<RawArgumentRule>>>,
}

/// One entry of `ruleDefinition.arguments`. Which fields a rule may have
/// depends on its `kind` (`rules::RuleKind`, the one list of kinds).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawArgumentRule {
    pub(crate) tools: Option<List<Text>>,
    pub(crate) argument: Option<Text>,
    pub(crate) kind: Option<Text>,
    pub(crate) case_insensitive: Option<Flag>,
    pub(crate) required: Option<Flag>,
    pub(crate) allow: Option<List<Text>>,
    pub(crate) deny: Option<List<Text>>,
    pub(crate) min: Option<Num>,
    pub(crate) max: Option<Num>,
}

impl RawRuleDefinition {
    /// `ruleDefinition` absent or `null`: no rules.
    pub(crate) fn empty() -> Self {
        Self {
            agent_id: None,
            allow: None,
            deny: None,
            default_action: None,
            arguments: None,
        }
    }
}

/// The JSON type of a value, as messages name it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A JSON string.
#[derive(Debug, Clone)]
pub(crate) struct Text(pub(crate) String);

/// A JSON boolean.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(pub(crate) bool);

/// A JSON number, exactly as read.
#[derive(Debug, Clone)]
pub(crate) struct Num(pub(crate) Number);

/// A JSON array of `T`.
#[derive(Debug)]
pub(crate) struct List<T>(pub(crate) Vec<T>);

/// A JSON object read as `T` (a derived struct alone would also accept an
/// array of its fields).
#[derive(Debug)]
pub(crate) struct Object<T>(pub(crate) T);

/// What a list of these is called: `must be an array of <plural>`.
pub(crate) trait Named {
    const PLURAL: &'static str;
    /// The message when the value is not an object (for `Object<Self>`).
    fn not_an_object(found: &str) -> String {
        format!("must be an object, not {found}")
    }
}

impl Named for Text {
    const PLURAL: &'static str = "strings";
}

impl Named for Object<RawArgumentRule> {
    const PLURAL: &'static str = "argument rules";
}

impl Named for RawArgumentRule {
    const PLURAL: &'static str = "argument rules";
    fn not_an_object(found: &str) -> String {
        format!("an argument rule must be an object, not {found}")
    }
}

/// One JSON scalar, or the error for anything else; `expected` is what
/// the field must be (`a string`).
enum Scalar {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

impl Scalar {
    fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "boolean",
            Scalar::Number(_) => "number",
            Scalar::String(_) => "string",
        }
    }
}

struct ScalarVisitor(&'static str);

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Number::from_f64(v)
            .map(Scalar::Number)
            .ok_or_else(|| E::custom("is not a finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
        Err(de::Error::custom(format!("must be {}, not array", self.0)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
        Err(de::Error::custom(format!("must be {}, not object", self.0)))
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D, expected: &'static str) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor(expected))
}

fn wrong<E: de::Error>(expected: &str, found: &Scalar) -> E {
    E::custom(format!("must be {expected}, not {}", found.type_name()))
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d, "a string")? {
            Scalar::String(s) => Ok(Text(s)),
            other => Err(wrong("a string", &other)),
        }
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d, "a boolean")? {
            Scalar::Bool(b) => Ok(Flag(b)),
            other => Err(wrong("a boolean", &other)),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d, "a number")? {
            Scalar::Number(n) => Ok(Num(n)),
            other => Err(wrong("a number", &other)),
        }
    }
}

/// Visits an array of `T`; anything else is `must be an array of …`.
struct ListVisitor<T>(PhantomData<T>);

impl<T: Named> ListVisitor<T> {
    fn not_a_list<E: de::Error>(found: &str) -> E {
        E::custom(format!("must be an array of {}, not {found}", T::PLURAL))
    }
}

impl<'de, T: Deserialize<'de> + Named> Visitor<'de> for ListVisitor<T> {
    type Value = List<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {}", T::PLURAL)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<List<T>, A::Error> {
        Err(Self::not_a_list("object"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
        Err(Self::not_a_list("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
        Err(Self::not_a_list("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
        Err(Self::not_a_list("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
        Err(Self::not_a_list("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
        Err(Self::not_a_list("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<List<T>, E> {
        Err(Self::not_a_list("string"))
    }
}

impl<'de, T: Deserialize<'de> + Named> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData))
    }
}

/// Visits an object as `T`; anything else is `T::not_an_object`.
struct ObjectVisitor<T>(PhantomData<T>);

impl<T: Named> ObjectVisitor<T> {
    fn not_an_object<E: de::Error>(found: &str) -> E {
        E::custom(T::not_an_object(found))
    }
}

impl<'de, T: Deserialize<'de> + Named> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Object<T>, A::Error> {
        Err(Self::not_an_object("array"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Object<T>, E> {
        Err(Self::not_an_object("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Object<T>, E> {
        Err(Self::not_an_object("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Object<T>, E> {
        Err(Self::not_an_object("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Object<T>, E> {
        Err(Self::not_an_object("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Object<T>, E> {
        Err(Self::not_an_object("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Object<T>, E> {
        Err(Self::not_an_object("string"))
    }
}

impl<'de, T: Deserialize<'de> + Named> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor(PhantomData))
    }
}

/// Where a raw value failed to deserialise: the field path under `prefix`
/// and the message.
pub(crate) fn read<T: for<'de> Deserialize<'de>>(
    value: &Value,
    prefix: &str,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (_, ".") => prefix.to_owned(),
            (true, _) => path,
            (false, _) => format!("{prefix}.{path}"),
        };
        (field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error<T: for<'de> Deserialize<'de> + fmt::Debug>(v: Value) -> (String, String) {
        read::<T>(&v, "").unwrap_err()
    }

    #[test]
    fn type_errors_name_the_field_and_both_types() {
        assert_eq!(
            error::<RawPolicy>(json!({"name": 5})),
            ("name".into(), "must be a string, not number".into())
        );
        assert_eq!(
            error::<RawPolicy>(json!({"isActive": "yes"})),
            ("isActive".into(), "must be a boolean, not string".into())
        );
        assert_eq!(
            error::<RawPolicy>(json!({"appliesToAgents": ["a", 1]})),
            (
                "appliesToAgents[1]".into(),
                "must be a string, not number".into()
            )
        );
        assert_eq!(
            error::<RawPolicy>(json!({"appliesToAgents": {"a": 1}})),
            (
                "appliesToAgents".into(),
                "must be an array of strings, not object".into()
            )
        );
        assert_eq!(
            error::<RawRuleDefinition>(json!({"arguments": [{"min": "1"}]})),
            (
                "arguments[0].min".into(),
                "must be a number, not string".into()
            )
        );
        assert_eq!(
            error::<RawRuleDefinition>(json!({"arguments": [[]]})),
            (
                "arguments[0]".into(),
                "an argument rule must be an object, not array".into()
            )
        );
        assert_eq!(
            error::<RawRuleDefinition>(json!({"arguments": {}})),
            (
                "arguments".into(),
                "must be an array of argument rules, not object".into()
            )
        );
        assert_eq!(
            error::<RawRuleDefinition>(json!({"deny": [null]})),
            ("deny[0]".into(), "must be a string, not null".into())
        );
    }

    #[test]
    fn nulls_and_unknown_fields_are_absent() {
        let p: RawPolicy = read(
            &json!({"name": null, "severity": null, "future": {"x": 1}}),
            "",
        )
        .unwrap();
        assert!(p.name.is_none() && p.severity.is_none());
        let r: RawArgumentRule = read(&json!({"min": 1.5, "max": 7}), "x").unwrap();
        assert_eq!(r.min.unwrap().0.as_f64(), Some(1.5));
        assert_eq!(r.max.unwrap().0.as_u64(), Some(7));
    }

    #[test]
    fn prefixes_join_paths() {
        let e = read::<RawRuleDefinition>(&json!({"agentId": 1}), "ruleDefinition").unwrap_err();
        assert_eq!(e.0, "ruleDefinition.agentId");
    }
}
