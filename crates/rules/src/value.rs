//! Runtime values: owned [`FieldValue`]s stored in profiles, stats, features and
//! events, and borrowed, `Copy` [`Value`]s that evaluation passes around.
//!
//! Contract: evaluation never allocates, so it works on [`Value`]s that borrow from the
//! user's stored state or from the compiled rule's constants. [`FieldValue`] has a total
//! order (floats by `total_cmp`) so it can live in differential collections; the rule
//! language's own `==` on doubles is IEEE equality, implemented in the evaluator.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::types::Type;
use segstream_time as time;

/// An owned value of a field, property or feature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FieldValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// Text (boxed, not a `String`: 8 bytes smaller, which every profile and stats
    /// field of every user pays for).
    Str(Box<str>),
    /// Epoch milliseconds.
    Timestamp(i64),
    /// Milliseconds.
    Duration(i64),
    /// A list of scalars.
    List(Box<[FieldValue]>),
}

/// A borrowed value during evaluation. Copy, never owns memory.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// Text borrowed from state or a constant.
    Str(&'a str),
    /// Epoch milliseconds.
    Timestamp(i64),
    /// Milliseconds.
    Duration(i64),
    /// A list borrowed from state or a constant.
    List(&'a [FieldValue]),
}

impl FieldValue {
    /// Borrows the value for evaluation.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => Value::Int(*i),
            FieldValue::Double(d) => Value::Double(*d),
            FieldValue::Str(s) => Value::Str(s),
            FieldValue::Timestamp(t) => Value::Timestamp(*t),
            FieldValue::Duration(d) => Value::Duration(*d),
            FieldValue::List(l) => Value::List(l),
        }
    }

    /// Reads a JSON value as the declared type; `is_date` reads `YYYY-MM-DD` strings.
    /// Ints are accepted where doubles are declared. Returns a reason on mismatch.
    pub fn from_json(json: &serde_json::Value, ty: &Type, is_date: bool) -> Result<FieldValue, String> {
        use serde_json::Value as J;
        let mismatch = || {
            format!(
                "expected {}, found {}",
                if is_date {
                    "a date (YYYY-MM-DD)".to_string()
                } else {
                    ty.to_string()
                },
                json_kind(json)
            )
        };
        Ok(match (ty, json) {
            (Type::Bool, J::Bool(b)) => FieldValue::Bool(*b),
            (Type::Int, J::Number(n)) => FieldValue::Int(n.as_i64().ok_or_else(mismatch)?),
            (Type::Double, J::Number(n)) => FieldValue::Double(n.as_f64().ok_or_else(mismatch)?),
            (Type::String, J::String(s)) => FieldValue::Str(s.as_str().into()),
            (Type::Timestamp, J::String(s)) if is_date => FieldValue::Timestamp(time::parse_date(s)?),
            (Type::Timestamp, J::String(s)) => FieldValue::Timestamp(time::parse_timestamp(s)?),
            (Type::Timestamp, J::Number(n)) if !is_date => FieldValue::Timestamp(n.as_i64().ok_or_else(mismatch)?),
            (Type::Duration, J::String(s)) => FieldValue::Duration(time::parse_duration(s)?),
            (Type::Duration, J::Number(n)) => FieldValue::Duration(n.as_i64().ok_or_else(mismatch)?),
            (Type::List(element), J::Array(items)) => FieldValue::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| FieldValue::from_json(item, element, false).map_err(|e| format!("element {i}: {e}")))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        })
    }

    /// The value as JSON, timestamps as RFC 3339 and durations as literals.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Bool(b) => (*b).into(),
            FieldValue::Int(i) => (*i).into(),
            FieldValue::Double(d) => serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into),
            FieldValue::Str(s) => s.to_string().into(),
            FieldValue::Timestamp(t) => time::format_timestamp(*t).into(),
            FieldValue::Duration(d) => time::format_duration(*d).into(),
            FieldValue::List(items) => items.iter().map(FieldValue::to_json).collect(),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            FieldValue::Bool(_) => 0,
            FieldValue::Int(_) => 1,
            FieldValue::Double(_) => 2,
            FieldValue::Str(_) => 3,
            FieldValue::Timestamp(_) => 4,
            FieldValue::Duration(_) => 5,
            FieldValue::List(_) => 6,
        }
    }
}

fn json_kind(json: &serde_json::Value) -> &'static str {
    match json {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl Ord for FieldValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (FieldValue::Bool(a), FieldValue::Bool(b)) => a.cmp(b),
            (FieldValue::Int(a), FieldValue::Int(b)) => a.cmp(b),
            (FieldValue::Double(a), FieldValue::Double(b)) => a.total_cmp(b),
            (FieldValue::Str(a), FieldValue::Str(b)) => a.cmp(b),
            (FieldValue::Timestamp(a), FieldValue::Timestamp(b)) => a.cmp(b),
            (FieldValue::Duration(a), FieldValue::Duration(b)) => a.cmp(b),
            (FieldValue::List(a), FieldValue::List(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for FieldValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FieldValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FieldValue {}

impl Hash for FieldValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            FieldValue::Bool(b) => b.hash(state),
            FieldValue::Int(i) | FieldValue::Timestamp(i) | FieldValue::Duration(i) => i.hash(state),
            FieldValue::Double(d) => d.to_bits().hash(state),
            FieldValue::Str(s) => s.hash(state),
            FieldValue::List(l) => l.hash(state),
        }
    }
}

impl FieldValue {
    /// An owned copy of a borrowed value.
    pub fn from_value(value: Value<'_>) -> FieldValue {
        match value {
            Value::Bool(b) => FieldValue::Bool(b),
            Value::Int(i) => FieldValue::Int(i),
            Value::Double(d) => FieldValue::Double(d),
            Value::Str(s) => FieldValue::Str(s.into()),
            Value::Timestamp(t) => FieldValue::Timestamp(t),
            Value::Duration(d) => FieldValue::Duration(d),
            Value::List(l) => FieldValue::List(l.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FieldValue;

    #[test]
    fn a_field_costs_24_bytes_present_or_not() {
        // Every profile and stats field of every user is one `Option<FieldValue>`.
        assert_eq!(std::mem::size_of::<Option<FieldValue>>(), 24);
    }
}
