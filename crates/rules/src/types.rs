//! The static types of the rule language.
//!
//! Contract: every checked expression has exactly one [`Type`]. Schema fields declare
//! their types with the names parsed by [`Type::parse_field_type`]; `date` fields are
//! stored as timestamps. Types print the way users write them in errors.

use std::fmt;

/// A static type of a rule expression or a schema field.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `true` / `false`.
    Bool,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Double,
    /// UTF-8 text.
    String,
    /// A point in event time (epoch milliseconds, UTC).
    Timestamp,
    /// A span of time in milliseconds.
    Duration,
    /// A list whose elements have the given type.
    List(Box<Type>),
    /// A map literal from keys to values.
    Map(Box<Type>, Box<Type>),
    /// The most recent event of a type (`last("t")`); only its properties can be read.
    Event(String),
}

impl Type {
    /// Whether the type is `int` or `double`.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Double)
    }

    /// Whether values of this type can be ordered with `<`, `<=`, `>`, `>=`.
    pub fn is_ordered(&self) -> bool {
        matches!(self, Type::Int | Type::Double | Type::String | Type::Timestamp | Type::Duration)
    }

    /// Parses a schema field type name: `bool`, `int`, `double`, `string`, `timestamp`,
    /// `date` (a timestamp at midnight UTC), `duration`, `list<T>` of a scalar `T`.
    pub fn parse_field_type(text: &str) -> Result<FieldType, String> {
        let scalar = |name: &str| -> Option<Type> {
            Some(match name {
                "bool" => Type::Bool,
                "int" => Type::Int,
                "double" => Type::Double,
                "string" => Type::String,
                "timestamp" | "date" => Type::Timestamp,
                "duration" => Type::Duration,
                _ => return None,
            })
        };
        let trimmed = text.trim();
        if let Some(inner) = trimmed.strip_prefix("list<").and_then(|rest| rest.strip_suffix('>')) {
            let element = scalar(inner.trim()).filter(|t| *t != Type::Bool);
            return element
                .map(|t| FieldType {
                    ty: Type::List(Box::new(t)),
                    is_date: false,
                })
                .ok_or_else(|| format!("unknown list element type {inner:?} (use list<string>, list<int> or list<double>)"));
        }
        scalar(trimmed)
            .map(|ty| FieldType {
                ty,
                is_date: trimmed == "date",
            })
            .ok_or_else(|| format!("unknown type {text:?} (use bool, int, double, string, timestamp, date, duration or list<T>)"))
    }
}

/// A declared schema field type: the static type plus how its JSON is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldType {
    /// The type the rule language sees.
    pub ty: Type,
    /// Whether JSON values are `YYYY-MM-DD` dates (read as timestamps at midnight UTC).
    pub is_date: bool,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => write!(f, "bool"),
            Type::Int => write!(f, "int"),
            Type::Double => write!(f, "double"),
            Type::String => write!(f, "string"),
            Type::Timestamp => write!(f, "timestamp"),
            Type::Duration => write!(f, "duration"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Map(k, v) => write!(f, "map({k}, {v})"),
            Type::Event(name) => write!(f, "event {name:?}"),
        }
    }
}
