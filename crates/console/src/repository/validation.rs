//! Checking segment texts: alone, in the workspace, and as a whole published set.
//!
//! Contract: a [`Problem`] names the segment and the line and column inside that
//! segment's own text. [`Repository::validate`] reads a text as one `[[segment]]` table
//! and compiles it with the newest version of every other live segment (drafts
//! included, so a new parent and its child can be drafted together); it reports only the
//! problems of the text itself. [`Repository::check_set`] compiles exactly the set a
//! publish would put in force and reports every problem in it.

use std::fmt;

use segstream_rules::{load_rule_files, SegmentDef, SourceText};
use serde::Serialize;

use super::{Repository, RepositoryError};
use crate::segment_text::parse_chunk;

/// A problem in a segment's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The segment (its id, or what the text was given as).
    pub segment: String,
    /// 1-based line in the segment's text.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// How many characters it spans (at least one).
    pub width: usize,
    /// Why.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.segment, self.line, self.col, self.message)
    }
}

/// Segment ids with this prefix are reserved for the console's dry runs.
pub const RESERVED_PREFIX: &str = "__";

/// What a text is called in problems before it has a known id.
pub const UNNAMED: &str = "(this segment)";

impl Repository {
    /// Compiles `(label, text)` pieces as one set; every problem, by label.
    pub(super) fn check_set(&self, pieces: &[(String, String)]) -> Result<Vec<SegmentDef>, Vec<Problem>> {
        let sources: Vec<SourceText> = pieces
            .iter()
            .map(|(label, text)| SourceText {
                name: label.clone(),
                text: text.clone(),
            })
            .collect();
        load_rule_files(&sources, &self.schema, &self.udfs, self.limits)
            .map(|(_, defs)| defs)
            .map_err(|diagnostics| {
                diagnostics
                    .into_iter()
                    .map(|d| Problem {
                        segment: d.file,
                        line: d.at.line,
                        col: d.at.col,
                        width: d.width,
                        message: d.message,
                    })
                    .collect()
            })
    }

    /// The newest text of every live segment but `except`, as `(id, text)`.
    pub(super) fn workspace(&self, except: &str) -> Result<Vec<(String, String)>, RepositoryError> {
        let mut pieces = Vec::new();
        for row in self.store.segments()?.into_iter().filter(|s| !s.archived && s.id != except) {
            let text = self.text_of(&row.id, row.latest)?.text;
            pieces.push((row.id, text));
        }
        Ok(pieces)
    }

    /// Checks that the engine can hold `draft` as a hidden copy (no group, no parent,
    /// a reserved id) next to the published set, as a dry run puts it there.
    pub fn check_dry_run(&self, draft: &SegmentDef) -> Result<(), RepositoryError> {
        let mut defs = Vec::new();
        for row in self.store.segments()?.into_iter().filter(|s| !s.archived) {
            if let Some(published) = row.published {
                let text = self.text_of(&row.id, published)?.text;
                defs.extend(parse_chunk(&text).ok().map(|(def, _)| def));
            }
        }
        defs.push(SegmentDef {
            id: format!("{RESERVED_PREFIX}dry_run_check"),
            group: None,
            priority: None,
            parent: None,
            ..draft.clone()
        });
        segstream_rules::RuleSet::compile(&self.schema, &defs, &self.udfs, self.limits)
            .map(|_| ())
            .map_err(|errors| {
                let problems = errors
                    .into_iter()
                    .map(|e| Problem {
                        segment: draft.id.clone(),
                        line: 1,
                        col: 1,
                        width: 1,
                        message: format!("next to the published set, as a dry run holds it: {}", e.message),
                    })
                    .collect();
                RepositoryError::Invalid(problems)
            })
    }

    /// Checks a segment's text (see the module contract); its definition if it checks.
    pub fn validate(&self, text: &str, expected_id: Option<&str>) -> Result<SegmentDef, RepositoryError> {
        let label = expected_id.unwrap_or(UNNAMED).to_string();
        let located = |e: crate::segment_text::TextError| Problem {
            segment: label.clone(),
            line: e.line,
            col: e.col,
            width: 1,
            message: e.message,
        };
        let (def, spans) = parse_chunk(text).map_err(|e| RepositoryError::Invalid(vec![located(e)]))?;
        let at_id = |message: String| {
            let at = segstream_rules::line_col(text, spans.id.start);
            RepositoryError::Invalid(vec![Problem {
                segment: label.clone(),
                line: at.line,
                col: at.col,
                width: spans.id.end.saturating_sub(spans.id.start).max(1),
                message,
            }])
        };
        if def.id.starts_with(RESERVED_PREFIX) {
            return Err(at_id(format!(
                "ids starting with {RESERVED_PREFIX:?} are the console's own (dry runs)"
            )));
        }
        if let Some(expected) = expected_id.filter(|id| *id != def.id) {
            return Err(at_id(format!(
                "this is segment {expected:?}; its id cannot change here (rename it instead)"
            )));
        }
        let mut pieces = self.workspace(&def.id)?;
        pieces.push((label.clone(), text.to_string()));
        match self.check_set(&pieces) {
            Ok(_) => Ok(def),
            Err(problems) => {
                let own: Vec<Problem> = problems.into_iter().filter(|p| p.segment == label).collect();
                if own.is_empty() {
                    Ok(def)
                } else {
                    Err(RepositoryError::Invalid(own))
                }
            }
        }
    }
}
