//! User-defined functions: typed functions that the host application adds.
//!
//! Contract: a function registered here is checked like a built-in (argument count and
//! types, result type) and called with its arguments on the stack, so evaluation still
//! does not allocate. A function must be pure and deterministic; it returns `None` for
//! a missing result. A result of the wrong type is treated as missing.

use std::sync::Arc;

use super::types::Type;
use super::value::Value;

/// The most parameters a user-defined function can take.
pub const MAX_UDF_PARAMS: usize = 4;

/// The body of a user-defined function.
pub type UdfBody = Arc<dyn for<'a> Fn(&[Value<'a>]) -> Option<Value<'a>> + Send + Sync>;

/// A registered function.
#[derive(Clone)]
pub struct Udf {
    /// Name as called in rules.
    pub name: String,
    /// Parameter types.
    pub params: Vec<Type>,
    /// Result type.
    pub result: Type,
    /// Static cost of one call, counted against the rule's cost limit.
    pub cost: u64,
    /// The body.
    pub body: UdfBody,
}

/// The functions a host has added.
#[derive(Clone, Default)]
pub struct UdfRegistry {
    functions: Vec<Udf>,
}

/// The segmentation functions: each reads a per-user real-time feature.
pub const SEGMENTATION_FUNCTIONS: [&str; 10] = [
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "distinct_count",
    "first_seen",
    "last_seen",
    "sequence",
    "last",
];

/// The other built-in functions.
pub const OTHER_BUILTINS: [&str; 8] = ["age", "now", "duration", "timestamp", "size", "int", "double", "has"];

/// Every built-in function name (a user-defined function cannot take one).
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    SEGMENTATION_FUNCTIONS.into_iter().chain(OTHER_BUILTINS)
}

impl UdfRegistry {
    /// An empty registry.
    pub fn new() -> UdfRegistry {
        UdfRegistry::default()
    }

    /// Adds a function; rejects built-in or duplicate names, bad names and too many parameters.
    pub fn register(&mut self, udf: Udf) -> Result<(), String> {
        if !super::schema::is_identifier(&udf.name) {
            return Err(format!("{:?} is not a valid function name", udf.name));
        }
        if builtin_names().any(|b| b == udf.name) || self.lookup(&udf.name).is_some() {
            return Err(format!("a function named {:?} already exists", udf.name));
        }
        if udf.params.len() > MAX_UDF_PARAMS {
            return Err(format!(
                "function {:?} takes {} parameters; at most {MAX_UDF_PARAMS} are supported",
                udf.name,
                udf.params.len()
            ));
        }
        self.functions.push(udf);
        Ok(())
    }

    /// The id and definition of a function.
    pub fn lookup(&self, name: &str) -> Option<(usize, &Udf)> {
        self.functions.iter().position(|f| f.name == name).map(|i| (i, &self.functions[i]))
    }

    /// A function by id.
    pub fn get(&self, id: usize) -> Option<&Udf> {
        self.functions.get(id)
    }

    /// All names, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.iter().map(|f| f.name.as_str())
    }
}
