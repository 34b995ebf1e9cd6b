//! Edits that do not change what is in force by themselves: create, save a draft; and
//! the two that remove an id from the published set: delete and rename.
//!
//! Contract: see the repository's contract. Create refuses an id in use (a deleted id is
//! revived, its history kept). A draft keeps its segment's id. Delete and rename refuse
//! while another live segment's newest version names the segment as its `parent`.

use segstream_time::wall_clock_ms;

use super::validation::RESERVED_PREFIX;
use super::{Actor, Edit, Repository, RepositoryError, SegmentView};
use crate::segment_text::{parse_chunk, with_id};
use crate::store::{AuditRow, ChangeSet, FileRow, SegmentRow, VersionRow, VersionState, Write};

/// The file new segments go to when none is named.
pub const DEFAULT_FILE: &str = "console.toml";

/// The row's write with some fields changed (the revision moves on by itself).
pub(super) fn segment_write(row: &SegmentRow, published: Option<u32>, latest: u32, archived: bool) -> Write {
    Write::Segment {
        id: row.id.clone(),
        file: row.file.clone(),
        position: row.position,
        published,
        latest,
        archived,
    }
}

/// An audit row for `segment`.
pub(super) fn audit(actor: &Actor, action: &str, segment: &str, comment: &str) -> AuditRow {
    AuditRow {
        id: 0,
        at: wall_clock_ms(),
        actor: actor.name.clone(),
        action: action.into(),
        segment: segment.into(),
        from_version: None,
        to_version: None,
        before: None,
        after: None,
        comment: comment.into(),
    }
}

/// A new version row.
pub(super) fn version(actor: &Actor, segment: &str, number: u32, text: &str, state: VersionState, comment: &str) -> VersionRow {
    VersionRow {
        segment: segment.into(),
        version: number,
        text: text.into(),
        state,
        author: actor.name.clone(),
        created_at: wall_clock_ms(),
        comment: comment.into(),
    }
}

pub(super) fn is_valid_file_name(name: &str) -> bool {
    name.ends_with(".toml")
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl Repository {
    /// Creates a segment from its text, as a draft in `file`.
    pub fn create(&self, actor: &Actor, text: &str, file: Option<&str>, comment: &str) -> Result<SegmentView, RepositoryError> {
        let def = self.validate(text, None)?;
        let file = file.unwrap_or(DEFAULT_FILE);
        if !is_valid_file_name(file) {
            return Err(RepositoryError::BadRequest(format!(
                "file {file:?}: a rule file name is letters, digits, '_', '-' or '.', ending in .toml"
            )));
        }
        let segments = self.store.segments()?;
        let existing = segments.iter().find(|s| s.id == def.id);
        if existing.is_some_and(|s| !s.archived) {
            return Err(RepositoryError::Conflict(format!("segment {:?} exists; edit it instead", def.id)));
        }
        let position = segments
            .iter()
            .filter(|s| s.file == file)
            .map(|s| s.position + 1)
            .max()
            .unwrap_or(0);
        let number = existing.map_or(1, |s| s.latest + 1);
        let mut writes = Vec::new();
        if !self.store.files()?.iter().any(|f| f.name == file) {
            writes.push(Write::File(FileRow {
                name: file.into(),
                preamble: String::new(),
            }));
        }
        writes.push(Write::Segment {
            id: def.id.clone(),
            file: file.into(),
            position,
            published: None,
            latest: number,
            archived: false,
        });
        writes.push(Write::Version(version(actor, &def.id, number, text, VersionState::Draft, comment)));
        let mut row = audit(actor, "create", &def.id, comment);
        row.to_version = Some(number);
        row.after = Some(text.into());
        self.store.commit(&ChangeSet {
            expect: vec![(def.id.clone(), existing.map(|s| s.revision))],
            writes,
            audit: vec![row],
            ..ChangeSet::default()
        })?;
        self.get(&def.id)
    }

    /// Saves a new draft of the edited segment.
    pub fn save_draft(&self, edit: Edit<'_>, text: &str) -> Result<SegmentView, RepositoryError> {
        self.retrying_races(|| self.save_draft_once(edit, text))
    }

    fn save_draft_once(&self, edit: Edit<'_>, text: &str) -> Result<SegmentView, RepositoryError> {
        let (actor, id, comment) = (edit.actor, edit.segment, edit.comment);
        let row = self.based_on(&edit)?;
        self.validate(text, Some(id))?;
        let before = self.text_of(id, row.latest)?.text;
        let number = row.latest + 1;
        let mut entry = audit(actor, "save", id, comment);
        (entry.from_version, entry.to_version) = (Some(row.latest), Some(number));
        (entry.before, entry.after) = (Some(before), Some(text.into()));
        self.store.commit(&ChangeSet {
            expect: vec![(id.into(), Some(row.revision))],
            writes: vec![
                segment_write(&row, row.published, number, false),
                Write::Version(version(actor, id, number, text, VersionState::Draft, comment)),
            ],
            audit: vec![entry],
            ..ChangeSet::default()
        })?;
        self.get(id)
    }

    /// The live segments whose newest or published version names `id` as parent.
    pub fn dependents(&self, id: &str) -> Result<Vec<String>, RepositoryError> {
        let mut dependents = Vec::new();
        for row in self.store.segments()?.into_iter().filter(|s| !s.archived && s.id != id) {
            let mut versions = vec![row.latest];
            versions.extend(row.published.filter(|p| *p != row.latest));
            for number in versions {
                let text = self.text_of(&row.id, number)?.text;
                if parse_chunk(&text).is_ok_and(|(def, _)| def.parent.as_deref() == Some(id)) {
                    dependents.push(row.id.clone());
                    break;
                }
            }
        }
        Ok(dependents)
    }

    fn refuse_if_depended_on(&self, id: &str) -> Result<(), RepositoryError> {
        let dependents = self.dependents(id)?;
        if dependents.is_empty() {
            Ok(())
        } else {
            Err(RepositoryError::Dependents {
                segment: id.into(),
                dependents,
            })
        }
    }

    /// Deletes the edited segment: withdrawn from the published set, its history kept.
    pub fn delete(&self, edit: Edit<'_>) -> Result<SegmentView, RepositoryError> {
        self.retrying_races(|| self.delete_once(edit))
    }

    fn delete_once(&self, edit: Edit<'_>) -> Result<SegmentView, RepositoryError> {
        let (actor, id) = (edit.actor, edit.segment);
        let (row, comment) = self.based_on_with_comment(&edit, "deleting a segment")?;
        let ruleset = self.store.ruleset_version()?;
        self.refuse_if_depended_on(id)?;
        if row.published.is_some() {
            self.check_published(&[(id.to_string(), None)])?;
        }
        let mut writes = vec![segment_write(&row, None, row.latest, true)];
        if let Some(published) = row.published {
            writes.push(Write::VersionState {
                segment: id.into(),
                version: published,
                state: VersionState::Archived,
            });
        }
        let mut entry = audit(actor, "delete", id, &comment);
        entry.from_version = row.published;
        self.commit_and_deliver(
            &ChangeSet {
                expect: vec![(id.into(), Some(row.revision))],
                expect_ruleset: Some(ruleset),
                writes,
                audit: vec![entry],
                bumps_ruleset: row.published.is_some(),
            },
            id,
        )
    }

    /// Renames the edited segment to `to`, history and all; a published segment is
    /// published under its new id at once.
    pub fn rename(&self, edit: Edit<'_>, to: &str) -> Result<SegmentView, RepositoryError> {
        self.retrying_races(|| self.rename_once(edit, to))
    }

    fn rename_once(&self, edit: Edit<'_>, to: &str) -> Result<SegmentView, RepositoryError> {
        let (actor, id) = (edit.actor, edit.segment);
        let (row, comment) = self.based_on_with_comment(&edit, "renaming a segment")?;
        if !segstream_rules::is_valid_id(to) || to.starts_with(RESERVED_PREFIX) {
            return Err(RepositoryError::BadRequest(format!(
                "{to:?} is not a segment id ([a-z0-9_-], at most 64, not starting with {RESERVED_PREFIX:?})"
            )));
        }
        if self.store.segments()?.iter().any(|s| s.id == to) {
            return Err(RepositoryError::Conflict(format!(
                "segment {to:?} exists (deleted ones keep their id)"
            )));
        }
        let ruleset = self.store.ruleset_version()?;
        self.refuse_if_depended_on(id)?;
        let rewrite = |text: &str| with_id(text, to).map_err(|e| RepositoryError::BadRequest(e.to_string()));
        let moved = SegmentRow {
            id: to.into(),
            ..row.clone()
        };
        let mut writes = vec![Write::Rename {
            from: id.into(),
            to: to.into(),
        }];
        let mut number = row.latest;
        // What is in force stays in force under the new id; a newer draft stays a draft.
        let mut published = None;
        let mut entry = audit(actor, "rename", to, &format!("renamed from {id:?}: {comment}"));
        if let Some(old) = row.published {
            let text = self.text_of(id, old)?.text;
            let renamed = rewrite(&text)?;
            self.check_published(&[(id.to_string(), None), (to.to_string(), Some(renamed.clone()))])?;
            number += 1;
            published = Some(number);
            writes.push(Write::VersionState {
                segment: to.into(),
                version: old,
                state: VersionState::Archived,
            });
            writes.push(Write::Version(version(
                actor,
                to,
                number,
                &renamed,
                VersionState::Published,
                &comment,
            )));
            (entry.before, entry.after) = (Some(text), Some(renamed));
        }
        if row.published != Some(row.latest) {
            let text = self.text_of(id, row.latest)?.text;
            let renamed = rewrite(&text)?;
            number += 1;
            writes.push(Write::Version(version(actor, to, number, &renamed, VersionState::Draft, &comment)));
            if entry.after.is_none() {
                (entry.before, entry.after) = (Some(text), Some(renamed));
            }
        }
        writes.insert(1, segment_write(&moved, published, number, false));
        (entry.from_version, entry.to_version) = (row.published, published.or(Some(number)));
        self.commit_and_deliver(
            &ChangeSet {
                expect: vec![(id.into(), Some(row.revision)), (to.into(), None)],
                expect_ruleset: Some(ruleset),
                writes,
                audit: vec![entry],
                bumps_ruleset: row.published.is_some(),
            },
            to,
        )
    }
}
