//! Loading rule files into a [`RuleSet`], with every error located in its file.
//!
//! Contract: [`load_rule_files`] takes the texts of rule files (the caller reads them;
//! this crate does no I/O), parses and compiles them as one set, and on failure returns
//! every error as a [`Diagnostic`] at `file:line:col`: TOML errors, definition errors
//! at the offending field, and condition errors at their exact place inside the
//! condition when the condition appears verbatim in the file.

use super::error::Diagnostic;
use super::limits::Limits;
use super::ruleset::RuleSet;
use super::schema::Schema;
use super::segment::{parse_rule_file, DefField, DefSpans, SegmentDef};
use super::udf::UdfRegistry;

/// A named source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceText {
    /// Its name (a path) for messages.
    pub name: String,
    /// Its contents.
    pub text: String,
}

/// Parses and compiles rule files as one set.
pub fn load_rule_files(
    files: &[SourceText],
    schema: &Schema,
    udfs: &UdfRegistry,
    limits: Limits,
) -> Result<(RuleSet, Vec<SegmentDef>), Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut defs = Vec::new();
    let mut origins: Vec<(usize, DefSpans)> = Vec::new();
    for (file_index, file) in files.iter().enumerate() {
        match parse_rule_file(&file.text) {
            Ok(parsed) => {
                for (def, spans) in parsed {
                    defs.push(def);
                    origins.push((file_index, spans));
                }
            }
            Err(e) => diagnostics.push(Diagnostic::new(&file.name, &file.text, e.span, e.message)),
        }
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    RuleSet::compile(schema, &defs, udfs, limits)
        .map(|set| (set, defs.clone()))
        .map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let (file_index, spans) = &origins[e.segment];
                    let file = &files[*file_index];
                    let span = match (e.field, e.condition_span, spans.when_text_start) {
                        (DefField::When, Some(inner), Some(start)) => inner.shifted(start),
                        _ => spans.of(e.field),
                    };
                    let message = match (e.field, e.condition_span, spans.when_text_start) {
                        (DefField::When, Some(inner), None) => format!(
                            "in the condition of {:?} at character {}: {}",
                            defs[e.segment].id,
                            inner.start + 1,
                            e.message
                        ),
                        _ => e.message,
                    };
                    Diagnostic::new(&file.name, &file.text, span, message)
                })
                .collect()
        })
}
