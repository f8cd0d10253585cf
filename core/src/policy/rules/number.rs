//! Exact comparison of JSON numbers with a number rule's bounds.
//!
//! A JSON number is an `i64`, a `u64` or a finite `f64` (serde_json reads
//! decimals with `float_roundtrip`, so the double is the one nearest the
//! text). Converting an integer to `f64` rounds above 2^53, so integers and
//! doubles are compared as the exact values they stand for.

use serde_json::Number;
use std::cmp::Ordering;

/// A bound of a number rule: the JSON number exactly as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bound(Number);

impl Bound {
    pub(crate) fn new(n: Number) -> Self {
        Self(n)
    }

    /// How `value` compares with this bound, exactly.
    pub(crate) fn cmp_value(&self, value: &Number) -> Ordering {
        cmp_exact(value, &self.0)
    }

    /// How this bound compares with `other`, exactly.
    pub(crate) fn cmp_bound(&self, other: &Bound) -> Ordering {
        cmp_exact(&self.0, &other.0)
    }

    /// For messages only: the bound as a double.
    pub(crate) fn as_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(f64::NAN)
    }
}

/// The exact value of a JSON number: an integer, or a finite double.
enum Exact {
    Int(i128),
    Float(f64),
}

fn exact(n: &Number) -> Exact {
    if let Some(i) = n.as_i64() {
        Exact::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Exact::Int(i128::from(u))
    } else {
        // serde_json never holds NaN or an infinity in a Number.
        Exact::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Compares two JSON numbers as the real numbers they stand for.
pub(crate) fn cmp_exact(a: &Number, b: &Number) -> Ordering {
    match (exact(a), exact(b)) {
        (Exact::Int(x), Exact::Int(y)) => x.cmp(&y),
        (Exact::Float(x), Exact::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Exact::Int(x), Exact::Float(y)) => cmp_int_float(x, y),
        (Exact::Float(x), Exact::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

/// `i` against the finite double `f`, without rounding either.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    // Every i64/u64 lies strictly inside ±2^127; doubles beyond that range
    // are decided by their sign alone.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0; // 2^127
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f < -LIMIT {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // Exact: |whole| < 2^127 and a double's integer part is an integer.
    let whole_int = whole as i128;
    match i.cmp(&whole_int) {
        Ordering::Equal if f > whole => Ordering::Less,
        Ordering::Equal if f < whole => Ordering::Greater,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(v: serde_json::Value) -> Number {
        match v {
            serde_json::Value::Number(n) => n,
            _ => unreachable!(),
        }
    }

    #[test]
    fn integers_and_doubles_compare_as_real_numbers() {
        use Ordering::*;
        let two53 = 9_007_199_254_740_992_u64;
        let cases = [
            (json!(two53 + 1), json!(two53 as f64), Greater),
            (json!(two53 as f64), json!(two53 + 1), Less),
            (json!(two53), json!(two53 as f64), Equal),
            (json!(u64::MAX), json!(u64::MAX as f64), Less),
            (json!(i64::MIN), json!(i64::MIN as f64), Equal),
            (json!(i64::MIN), json!(-1e300), Greater),
            (json!(0), json!(-0.0), Equal),
            (json!(1), json!(0.5), Greater),
            (json!(-1), json!(-0.5), Less),
            (json!(-1), json!(-1.5), Greater),
            (json!(0), json!(5e-324), Less),
            (json!(0), json!(-5e-324), Greater),
            (json!(3), json!(1e300), Less),
            (json!(1.5), json!(1.5), Equal),
            (json!(-3), json!(7_u64), Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp_exact(&n(a.clone()), &n(b.clone())), want, "{a} vs {b}");
        }
    }
}
