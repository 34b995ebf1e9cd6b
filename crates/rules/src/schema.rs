//! The declared schema: event types and their properties, profile fields, stats fields.
//!
//! Contract: [`Schema::from_toml`] reads `configs/schema.toml` text (see `docs/rules.md`,
//! "The schema") and returns the schema or every error with its span. Fields and event
//! types are kept in name order, so slot numbers are the same in every process that
//! reads the same schema.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::Span;
use super::types::{FieldType, Type};

/// Named, typed fields of one record (profile, stats, or one event type's properties).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    fields: Vec<(String, FieldType)>,
}

impl FieldSet {
    /// The slot and type of a field.
    pub fn lookup(&self, name: &str) -> Option<(usize, &FieldType)> {
        self.fields.iter().position(|(n, _)| n == name).map(|i| (i, &self.fields[i].1))
    }

    /// All field names in slot order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }

    /// Fields in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldType)> {
        self.fields.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Number of fields (slots).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// A field set from `(name, type)` pairs (sorted by name here).
    pub fn new(mut fields: Vec<(String, FieldType)>) -> FieldSet {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        FieldSet { fields }
    }

    /// Reads a JSON object into slot order; unknown keys are errors, as are type mismatches.
    pub fn read_json(&self, object: &serde_json::Map<String, serde_json::Value>) -> Result<Vec<Option<super::value::FieldValue>>, String> {
        let mut slots = vec![None; self.len()];
        for (key, json) in object {
            let (slot, ft) = self.lookup(key).ok_or_else(|| format!("unknown field {key:?}"))?;
            if json.is_null() {
                continue;
            }
            slots[slot] = Some(super::value::FieldValue::from_json(json, &ft.ty, ft.is_date).map_err(|e| format!("field {key:?}: {e}"))?);
        }
        Ok(slots)
    }

    /// [`FieldSet::read_json`] of a JSON value, which must be an object.
    ///
    /// ```
    /// use segstream_rules::{FieldSet, FieldType, Type};
    /// let fields = FieldSet::new(vec![("level".into(), FieldType { ty: Type::Int, is_date: false })]);
    /// assert_eq!(fields.read_json_value(&serde_json::json!({"level": 3})).unwrap().len(), 1);
    /// assert!(fields.read_json_value(&serde_json::json!([3])).unwrap_err().contains("an object"));
    /// assert!(fields.read_json_value(&serde_json::json!({"lvl": 3})).unwrap_err().contains("unknown field"));
    /// ```
    pub fn read_json_value(&self, value: &serde_json::Value) -> Result<Vec<Option<super::value::FieldValue>>, String> {
        match value {
            serde_json::Value::Object(object) => self.read_json(object),
            serde_json::Value::Null => Err("expected an object of fields, got null".into()),
            serde_json::Value::Bool(_) => Err("expected an object of fields, got a boolean".into()),
            serde_json::Value::Number(_) => Err("expected an object of fields, got a number".into()),
            serde_json::Value::String(_) => Err("expected an object of fields, got a string".into()),
            serde_json::Value::Array(_) => Err("expected an object of fields, got an array".into()),
        }
    }
}

/// The schema of everything a rule can read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// Profile fields (from CDC).
    pub profile: FieldSet,
    /// Stats fields (from the batch layer).
    pub stats: FieldSet,
    events: Vec<(String, FieldSet)>,
}

/// A schema error with its location in the schema text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// Where, if known.
    pub span: Span,
    /// Why.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    #[serde(default)]
    profile: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
    #[serde(default)]
    stats: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
    #[serde(default)]
    events: BTreeMap<toml::Spanned<String>, BTreeMap<toml::Spanned<String>, toml::Spanned<String>>>,
}

/// Whether `name` is an identifier `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn span_of<T>(s: &toml::Spanned<T>) -> Span {
    Span::new(s.span().start, s.span().end)
}

fn read_fields(table: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>, errors: &mut Vec<SchemaError>) -> FieldSet {
    let mut fields = Vec::new();
    for (name, ty) in table {
        if !is_identifier(name.get_ref()) {
            errors.push(SchemaError {
                span: span_of(&name),
                message: format!("{:?} is not a valid name (use letters, digits and _)", name.get_ref()),
            });
            continue;
        }
        match Type::parse_field_type(ty.get_ref()) {
            Ok(ft) => fields.push((name.into_inner(), ft)),
            Err(message) => errors.push(SchemaError {
                span: span_of(&ty),
                message,
            }),
        }
    }
    FieldSet::new(fields)
}

impl Schema {
    /// Parses schema TOML text.
    pub fn from_toml(text: &str) -> Result<Schema, Vec<SchemaError>> {
        let file: SchemaFile = toml::from_str(text).map_err(|e| {
            let span = e.span().map_or(Span::default(), |s| Span::new(s.start, s.end));
            vec![SchemaError {
                span,
                message: e.message().trim().to_string(),
            }]
        })?;
        let mut errors = Vec::new();
        let profile = read_fields(file.profile, &mut errors);
        let stats = read_fields(file.stats, &mut errors);
        let mut events = Vec::new();
        for (name, props) in file.events {
            if !is_identifier(name.get_ref()) {
                errors.push(SchemaError {
                    span: span_of(&name),
                    message: format!("{:?} is not a valid event type name (use letters, digits and _)", name.get_ref()),
                });
                continue;
            }
            events.push((name.into_inner(), read_fields(props, &mut errors)));
        }
        if events.is_empty() && errors.is_empty() {
            errors.push(SchemaError {
                span: Span::default(),
                message: "the schema declares no event types (add [events.<name>] tables)".into(),
            });
        }
        if errors.is_empty() {
            Ok(Schema { profile, stats, events })
        } else {
            Err(errors)
        }
    }

    /// A schema built in code.
    pub fn new(profile: FieldSet, stats: FieldSet, mut events: Vec<(String, FieldSet)>) -> Schema {
        events.sort_by(|a, b| a.0.cmp(&b.0));
        Schema { profile, stats, events }
    }

    /// The profile slot `age()` reads: `birthDate`, if declared as a date or timestamp.
    pub fn birth_date_slot(&self) -> Option<usize> {
        self.profile
            .lookup("birthDate")
            .filter(|(_, ft)| ft.ty == Type::Timestamp)
            .map(|(slot, _)| slot)
    }

    /// The id of an event type.
    pub fn event_type(&self, name: &str) -> Option<usize> {
        self.events.iter().position(|(n, _)| n == name)
    }

    /// The name of an event type id.
    pub fn event_name(&self, id: usize) -> &str {
        self.events.get(id).map_or("?", |(n, _)| n.as_str())
    }

    /// The properties of an event type id.
    pub fn event_properties(&self, id: usize) -> Option<&FieldSet> {
        self.events.get(id).map(|(_, p)| p)
    }

    /// All event type names in id order.
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|(n, _)| n.as_str())
    }

    /// Number of event types.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_schema() {
        let text = "[profile]\ngender = \"string\"\nbirthDate = \"date\"\n[stats]\nwatchedAds = \"list<string>\"\n[events.purchase]\namount = \"double\"\n[events.app_closed]\n";
        let schema = Schema::from_toml(text).unwrap_or_default();
        assert_eq!(
            schema.profile.lookup("birthDate").map(|(slot, ft)| (slot, ft.is_date)),
            Some((0, true))
        );
        assert_eq!(schema.event_type("purchase"), Some(1));
        assert_eq!(schema.event_properties(0).map(FieldSet::len), Some(0));
    }

    #[test]
    fn reports_bad_types_with_spans() {
        let text = "[profile]\ngender = \"strng\"\n[events.x]\n";
        let errors = Schema::from_toml(text).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(&text[errors[0].span.start..errors[0].span.end], "\"strng\"");
        assert!(Schema::from_toml("[profile\n").is_err());
        assert!(Schema::from_toml("[colors]\nred = \"int\"\n").is_err());
        assert!(Schema::from_toml("").is_err());
    }
}
