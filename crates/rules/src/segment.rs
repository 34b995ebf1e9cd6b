//! Segment definitions: what a segment is, how its file is read, and which sets of
//! definitions are consistent.
//!
//! Contract: [`parse_rule_file`] reads one TOML file of `[[segment]]` tables into
//! [`SegmentDef`]s with the spans of their fields, or returns located errors (unknown
//! keys, bad kinds, wrong types, empty files); [`validate_definitions`] checks a whole
//! set (ids, duplicates, parents and parent cycles, exclusive-group priorities) and
//! names the segment and field of each problem. Neither panics on any input.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::error::Span;

/// How membership follows the condition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// Enters and exits with its condition.
    #[default]
    Dynamic,
    /// Once entered, stays.
    Sticky,
}

/// A segment as declared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SegmentDef {
    /// Unique id, `[a-z0-9_-]+`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Dynamic or sticky.
    pub kind: SegmentKind,
    /// Exclusive group: at most one segment of the group per user.
    pub group: Option<String>,
    /// Priority within the group; the highest wins.
    pub priority: Option<i64>,
    /// The parent segment, which contains every member of this one.
    pub parent: Option<String>,
    /// The condition.
    pub when: String,
}

/// A field of a definition, for locating errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefField {
    /// The whole `[[segment]]` table.
    Table,
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `group`.
    Group,
    /// `priority`.
    Priority,
    /// `parent`.
    Parent,
    /// `when`.
    When,
}

/// Where each field of a definition is in its file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefSpans {
    /// The table.
    pub table: Span,
    /// `id` value.
    pub id: Span,
    /// `name` value.
    pub name: Span,
    /// `group` value.
    pub group: Option<Span>,
    /// `priority` value.
    pub priority: Option<Span>,
    /// `parent` value.
    pub parent: Option<Span>,
    /// `when` value (with quotes).
    pub when: Span,
    /// Byte offset in the file of the first character of the condition, when the
    /// condition text appears verbatim in the file (no escapes), so errors inside it
    /// can be located exactly.
    pub when_text_start: Option<usize>,
}

impl DefSpans {
    /// The span of a field (falls back to the table).
    pub fn of(&self, field: DefField) -> Span {
        match field {
            DefField::Table => self.table,
            DefField::Id => self.id,
            DefField::Name => self.name,
            DefField::Group => self.group.unwrap_or(self.table),
            DefField::Priority => self.priority.or(self.group).unwrap_or(self.table),
            DefField::Parent => self.parent.unwrap_or(self.table),
            DefField::When => self.when,
        }
    }
}

/// An error in a file or a definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// Where in the file.
    pub span: Span,
    /// Why.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileToml {
    #[serde(default)]
    segment: Vec<toml::Spanned<SegmentToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentToml {
    id: toml::Spanned<String>,
    name: toml::Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    kind: SegmentKind,
    group: Option<toml::Spanned<String>>,
    priority: Option<toml::Spanned<i64>>,
    parent: Option<toml::Spanned<String>>,
    when: toml::Spanned<String>,
}

/// The largest rule file accepted.
pub const MAX_RULE_FILE_BYTES: usize = 4 << 20;

fn span_of<T>(s: &toml::Spanned<T>) -> Span {
    Span::new(s.span().start, s.span().end)
}

/// Where the condition's text starts in the file, if it appears there verbatim.
fn verbatim_start(file: &str, value: &toml::Spanned<String>) -> Option<usize> {
    let raw = file.get(value.span().start..value.span().end)?;
    let open = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let mut start = open;
    if open == 3 {
        if raw[start..].starts_with("\r\n") {
            start += 2;
        } else if raw[start..].starts_with('\n') {
            start += 1;
        }
    }
    let body = raw.get(start..raw.len().saturating_sub(open))?;
    (body == value.get_ref()).then_some(value.span().start + start)
}

/// Reads one rule file.
pub fn parse_rule_file(text: &str) -> Result<Vec<(SegmentDef, DefSpans)>, FileError> {
    if text.len() > MAX_RULE_FILE_BYTES {
        return Err(FileError {
            span: Span::default(),
            message: format!("file is {} bytes; the limit is {MAX_RULE_FILE_BYTES} bytes", text.len()),
        });
    }
    let file: RuleFileToml = toml::from_str(text).map_err(|e| FileError {
        span: e.span().map_or(Span::default(), |s| Span::new(s.start, s.end)),
        message: e.message().trim().replace('\n', "; "),
    })?;
    if file.segment.is_empty() {
        return Err(FileError {
            span: Span::default(),
            message: "no segments in this file (declare them as [[segment]] tables)".into(),
        });
    }
    Ok(file
        .segment
        .into_iter()
        .map(|table| {
            let table_span = span_of(&table);
            let s = table.into_inner();
            let spans = DefSpans {
                table: table_span,
                id: span_of(&s.id),
                name: span_of(&s.name),
                group: s.group.as_ref().map(span_of),
                priority: s.priority.as_ref().map(span_of),
                parent: s.parent.as_ref().map(span_of),
                when: span_of(&s.when),
                when_text_start: verbatim_start(text, &s.when),
            };
            let def = SegmentDef {
                id: s.id.into_inner(),
                name: s.name.into_inner(),
                description: s.description,
                kind: s.kind,
                group: s.group.map(toml::Spanned::into_inner),
                priority: s.priority.map(toml::Spanned::into_inner),
                parent: s.parent.map(toml::Spanned::into_inner),
                when: s.when.into_inner(),
            };
            (def, spans)
        })
        .collect())
}

/// A problem with one definition in a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinitionError {
    /// Index of the definition.
    pub segment: usize,
    /// Which field.
    pub field: DefField,
    /// Why.
    pub message: String,
}

/// Whether `id` is a valid segment id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks a whole set of definitions for consistency.
pub fn validate_definitions(defs: &[SegmentDef]) -> Vec<DefinitionError> {
    let mut errors = Vec::new();
    let mut error = |segment: usize, field: DefField, message: String| errors.push(DefinitionError { segment, field, message });
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (i, def) in defs.iter().enumerate() {
        if !is_valid_id(&def.id) {
            error(
                i,
                DefField::Id,
                format!("segment id {:?} must be 1-64 characters of a-z, 0-9, _ and -", def.id),
            );
        }
        if def.name.trim().is_empty() {
            error(i, DefField::Name, "segment name must not be empty".into());
        }
        if let Some(first) = first_of.get(def.id.as_str()) {
            error(
                i,
                DefField::Id,
                format!("duplicate segment id {:?} (first declared as segment #{})", def.id, first + 1),
            );
        } else {
            first_of.insert(&def.id, i);
        }
    }
    for (i, def) in defs.iter().enumerate() {
        if let Some(parent) = &def.parent {
            if parent == &def.id {
                error(i, DefField::Parent, format!("segment {:?} cannot be its own parent", def.id));
            } else if !first_of.contains_key(parent.as_str()) {
                let hint = super::suggest::did_you_mean(parent, first_of.keys().copied());
                error(i, DefField::Parent, format!("unknown parent segment {parent:?}{hint}"));
            }
        }
        if def.group.is_some() {
            if let Some(child) = defs.iter().find(|d| d.parent.as_deref() == Some(def.id.as_str())) {
                error(
                    i,
                    DefField::Group,
                    format!(
                        "segment {:?} is the parent of {:?}, so it cannot be in an exclusive group (its members come from its children)",
                        def.id, child.id
                    ),
                );
            }
        }
        match (&def.group, def.priority) {
            (Some(_), None) => error(
                i,
                DefField::Group,
                format!("segment {:?} is in an exclusive group, so it needs a priority", def.id),
            ),
            (None, Some(_)) => error(
                i,
                DefField::Priority,
                "priority only has a meaning inside an exclusive group; add a group or remove it".into(),
            ),
            _ => {}
        }
    }
    // Parent cycles: follow parent links from each segment; report each cycle once, at its smallest index.
    for start in 0..defs.len() {
        let mut path = vec![start];
        let mut at = start;
        while let Some(next) = defs[at].parent.as_ref().and_then(|p| first_of.get(p.as_str()).copied()) {
            if next == at {
                break;
            }
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let cycle = &path[pos..];
                if cycle.iter().min() == Some(&start) && next == start {
                    let names: Vec<&str> = cycle.iter().chain(std::iter::once(&next)).map(|&i| defs[i].id.as_str()).collect();
                    error(start, DefField::Parent, format!("parent cycle: {}", names.join(" -> ")));
                }
                break;
            }
            path.push(next);
            at = next;
        }
    }
    let mut by_priority: BTreeMap<(&str, i64), usize> = BTreeMap::new();
    for (i, def) in defs.iter().enumerate() {
        if let (Some(group), Some(priority)) = (&def.group, def.priority) {
            if let Some(other) = by_priority.insert((group, priority), i) {
                error(
                    i,
                    DefField::Priority,
                    format!("segments {:?} and {:?} of exclusive group {group:?} have the same priority {priority}; priorities in a group must differ", defs[other].id, def.id),
                );
            }
        }
    }
    errors.sort_by_key(|e| e.segment);
    errors
}
