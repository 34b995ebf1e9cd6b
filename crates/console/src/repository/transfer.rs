//! Import and export of rule files, so teams can keep their rules in git.
//!
//! Contract: [`Repository::export`] gives the published set as rule files; importing
//! those files again changes nothing, and exporting again gives the same bytes (each
//! file's preamble and every table's text, comments included, are kept). An import
//! checks every file first and writes nothing if any problem is found (all problems are
//! listed). Each table becomes a new version of its segment unless it equals the newest
//! one; with `publish`, every imported segment's newest version is put in force in the
//! same transaction, checked as the whole resulting set. A segment the files leave as
//! it is gets no write at all (its `ETag` holds). Segments the files do not mention are
//! left alone (an import never deletes). An import is at most
//! [`MAX_IMPORT_FILES`] files and [`MAX_IMPORT_BYTES`] bytes.

use std::collections::BTreeSet;

use segstream_rules::snapshot::RuleFile;
use serde::Deserialize;

use super::edits::{audit, segment_write, version};
use super::validation::{Problem, RESERVED_PREFIX};
use super::{required_comment, Actor, Repository, RepositoryError};
use crate::segment_text::{split_file, Chunk};
use crate::store::{ChangeSet, FileRow, SegmentRow, VersionState, Write};

/// A rule file given to import.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ImportedFile {
    /// Its name (`*.toml`).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// The most files one import takes.
pub const MAX_IMPORT_FILES: usize = 200;
/// The most bytes one import takes, all files together.
pub const MAX_IMPORT_BYTES: usize = 8 << 20;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Segments created.
    pub created: Vec<String>,
    /// Segments given a new version.
    pub changed: Vec<String>,
    /// Segments already equal to the files.
    pub unchanged: Vec<String>,
    /// Segments put in force (with `publish`).
    pub published: Vec<String>,
    /// The rule-set version after.
    pub ruleset_version: u64,
}

fn problem(segment: &str, line: usize, col: usize, message: String) -> Problem {
    Problem {
        segment: segment.into(),
        line,
        col,
        width: 1,
        message,
    }
}

/// A file of an import, cut into its preamble and tables.
type SplitImport = (String, String, Vec<Chunk>);

/// Every file split, or every problem found.
fn split_all(files: &[ImportedFile]) -> Result<Vec<SplitImport>, Vec<Problem>> {
    let (mut problems, mut split, mut seen) = (Vec::new(), Vec::new(), BTreeSet::new());
    let total: usize = files.iter().map(|f| f.text.len()).sum();
    if files.len() > MAX_IMPORT_FILES || total > MAX_IMPORT_BYTES {
        let message = format!(
            "an import is at most {MAX_IMPORT_FILES} files and {MAX_IMPORT_BYTES} bytes; this one is {} files, {total} bytes",
            files.len()
        );
        return Err(vec![problem("(import)", 1, 1, message)]);
    }
    for file in files {
        if !super::edits::is_valid_file_name(&file.name) || !seen.insert(file.name.clone()) {
            problems.push(problem(
                &file.name,
                1,
                1,
                "file names are unique, [A-Za-z0-9_.-], ending in .toml".into(),
            ));
            continue;
        }
        match split_file(&file.text) {
            Ok(parts) => split.push((file.name.clone(), parts.preamble, parts.chunks)),
            Err(e) => problems.push(problem(&file.name, e.line, e.col, e.message)),
        }
    }
    let mut ids = BTreeSet::new();
    for (name, _, chunks) in &split {
        for chunk in chunks.iter().filter(|c| !ids.insert(c.def.id.clone())) {
            problems.push(problem(
                name,
                1,
                1,
                format!("segment {:?} is defined twice in this import", chunk.def.id),
            ));
        }
        for chunk in chunks.iter().filter(|c| c.def.id.starts_with(RESERVED_PREFIX)) {
            let message = format!(
                "segment ids starting with {RESERVED_PREFIX:?} are the console's own ({:?})",
                chunk.def.id
            );
            problems.push(problem(name, 1, 1, message));
        }
    }
    if problems.is_empty() {
        Ok(split)
    } else {
        Err(problems)
    }
}

impl Repository {
    /// The published set as rule files.
    pub fn export(&self) -> Result<Vec<RuleFile>, RepositoryError> {
        Ok(self.published_snapshot()?.files)
    }

    /// Imports rule files (see the module contract).
    pub fn import(&self, actor: &Actor, files: &[ImportedFile], comment: &str, publish: bool) -> Result<ImportReport, RepositoryError> {
        self.retrying_races(|| self.import_once(actor, files, comment, publish))
    }

    fn import_once(&self, actor: &Actor, files: &[ImportedFile], comment: &str, publish: bool) -> Result<ImportReport, RepositoryError> {
        let comment = required_comment(comment, "importing")?;
        let split = split_all(files).map_err(RepositoryError::Invalid)?;
        let ruleset = self.store.ruleset_version()?;
        let segments = self.store.segments()?;
        let imported: BTreeSet<&str> = split.iter().flat_map(|(_, _, c)| c.iter().map(|c| c.def.id.as_str())).collect();
        let mut pieces: Vec<(String, String)> = self
            .workspace("")?
            .into_iter()
            .filter(|(id, _)| !imported.contains(id.as_str()))
            .collect();
        pieces.extend(
            split
                .iter()
                .flat_map(|(_, _, c)| c.iter().map(|c| (c.def.id.clone(), c.text.clone()))),
        );
        self.check_set(&pieces).map_err(RepositoryError::Invalid)?;
        if publish {
            let changes: Vec<(String, Option<String>)> = pieces
                .iter()
                .filter(|(id, _)| imported.contains(id.as_str()))
                .map(|(id, text)| (id.clone(), Some(text.clone())))
                .collect();
            self.check_published(&changes)?;
        }
        let mut report = ImportReport::default();
        let mut change = ChangeSet {
            expect_ruleset: Some(ruleset),
            ..ChangeSet::default()
        };
        for (name, preamble, chunks) in &split {
            change.writes.push(Write::File(FileRow {
                name: name.clone(),
                preamble: preamble.clone(),
            }));
            for (position, chunk) in chunks.iter().enumerate() {
                let existing = segments.iter().find(|s| s.id == chunk.def.id);
                self.import_one(
                    actor,
                    existing,
                    name,
                    position as i64,
                    chunk,
                    publish,
                    &comment,
                    &mut change,
                    &mut report,
                )?;
            }
        }
        change.bumps_ruleset = !report.published.is_empty();
        report.ruleset_version = self.store.commit(&change)?;
        self.deliver();
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn import_one(
        &self,
        actor: &Actor,
        existing: Option<&SegmentRow>,
        file: &str,
        position: i64,
        chunk: &Chunk,
        publish: bool,
        comment: &str,
        change: &mut ChangeSet,
        report: &mut ImportReport,
    ) -> Result<(), RepositoryError> {
        let id = chunk.def.id.as_str();
        let blank = SegmentRow {
            id: id.into(),
            file: file.into(),
            position,
            revision: 0,
            published: None,
            latest: 0,
            archived: false,
        };
        let row = SegmentRow {
            file: file.into(),
            position,
            ..existing.cloned().unwrap_or(blank)
        };
        let live = existing.filter(|s| !s.archived);
        let same = match live {
            Some(s) => self.text_of(id, s.latest)?.text == chunk.text,
            None => false,
        };
        let latest = if same { row.latest } else { row.latest + 1 };
        let published = if publish { Some(latest) } else { row.published };
        let moved = existing.is_some_and(|s| s.file != file || s.position != position);
        // The import was checked against this revision, written or not.
        change.expect.push((id.into(), existing.map(|s| s.revision)));
        if same && !moved && published == row.published {
            // Nothing to write: the segment keeps its revision, so open editors keep theirs.
            report.unchanged.push(id.into());
            return Ok(());
        }
        change.writes.push(segment_write(&row, published, latest, false));
        if !same {
            change.writes.push(Write::Version(version(
                actor,
                id,
                latest,
                &chunk.text,
                VersionState::Draft,
                comment,
            )));
        }
        if publish && row.published != Some(latest) {
            if let Some(old) = row.published {
                change.writes.push(Write::VersionState {
                    segment: id.into(),
                    version: old,
                    state: VersionState::Archived,
                });
            }
            change.writes.push(Write::VersionState {
                segment: id.into(),
                version: latest,
                state: VersionState::Published,
            });
            report.published.push(id.into());
        }
        match (live, same) {
            (None, _) => report.created.push(id.into()),
            (Some(_), false) => report.changed.push(id.into()),
            (Some(_), true) => report.unchanged.push(id.into()),
        }
        if !same || report.published.last().map(String::as_str) == Some(id) {
            let mut entry = audit(actor, "import", id, comment);
            (entry.from_version, entry.to_version) = (row.published, Some(latest));
            entry.after = Some(chunk.text.clone());
            change.audit.push(entry);
        }
        Ok(())
    }
}
