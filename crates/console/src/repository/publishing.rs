//! Changing what is in force: publishing versions (several segments at once, all or
//! nothing) and rolling a segment back.
//!
//! Contract: see the repository's contract. A publish needs a comment and, per
//! segment, the `ETag` it was reviewed at; it is checked as the whole set it would put
//! in force, commits in one transaction that also expects the rule-set version it read
//! (so two publishes cannot both pass a check made against the older set), and then
//! delivers. A rollback appends a copy of the old version's text as a new version and
//! publishes it the same way.

use serde::Deserialize;

use super::edits::{audit, segment_write, version};
use super::{required_comment, Actor, Edit, Repository, RepositoryError, SegmentView};
use crate::segment_text::{parse_chunk, with_id};
use crate::store::{ChangeSet, SegmentRow, VersionState, Write};

/// One segment of a publish.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PublishItem {
    /// The segment.
    pub segment: String,
    /// The version to publish (its newest when absent).
    pub version: Option<u32>,
    /// The `ETag` it was reviewed at.
    pub etag: Option<String>,
}

impl Repository {
    /// Checks the published set with some segments replaced (`Some(text)`) or
    /// withdrawn (`None`).
    pub(super) fn check_published(&self, changes: &[(String, Option<String>)]) -> Result<(), RepositoryError> {
        let mut pieces = Vec::new();
        for row in self.store.segments()?.iter().filter(|s| !s.archived) {
            if changes.iter().any(|(id, _)| *id == row.id) {
                continue;
            }
            if let Some(published) = row.published {
                pieces.push((row.id.clone(), self.text_of(&row.id, published)?.text));
            }
        }
        pieces.extend(changes.iter().filter_map(|(id, text)| text.clone().map(|t| (id.clone(), t))));
        self.check_set(&pieces).map(|_| ()).map_err(RepositoryError::Invalid)
    }

    /// The writes that put `number` of `row` in force, the old version archived.
    fn put_in_force(row: &SegmentRow, number: u32, latest: u32) -> Vec<Write> {
        let mut writes = vec![segment_write(row, Some(number), latest, false)];
        if let Some(old) = row.published.filter(|old| *old != number) {
            writes.push(Write::VersionState {
                segment: row.id.clone(),
                version: old,
                state: VersionState::Archived,
            });
        }
        writes
    }

    /// Publishes the given versions together (see the module contract).
    pub fn publish(&self, actor: &Actor, items: &[PublishItem], comment: &str) -> Result<Vec<SegmentView>, RepositoryError> {
        self.retrying_races(|| self.publish_once(actor, items, comment))
    }

    fn publish_once(&self, actor: &Actor, items: &[PublishItem], comment: &str) -> Result<Vec<SegmentView>, RepositoryError> {
        let comment = required_comment(comment, "publishing")?;
        if items.is_empty() {
            return Err(RepositoryError::BadRequest("name at least one segment to publish".into()));
        }
        let ruleset = self.store.ruleset_version()?;
        let segments = self.store.segments()?;
        let mut change = ChangeSet {
            expect_ruleset: Some(ruleset),
            bumps_ruleset: true,
            ..ChangeSet::default()
        };
        let mut texts = Vec::new();
        for item in items {
            let row = segments
                .iter()
                .find(|s| s.id == item.segment && !s.archived)
                .ok_or_else(|| RepositoryError::NotFound(format!("no segment {:?}", item.segment)))?;
            if change.expect.iter().any(|(id, _)| *id == row.id) {
                return Err(RepositoryError::BadRequest(format!("segment {:?} is named twice", row.id)));
            }
            Self::check_etag(row, item.etag.as_deref())?;
            let number = item.version.unwrap_or(row.latest);
            let chosen = self.text_of(&row.id, number)?;
            if parse_chunk(&chosen.text).map(|(def, _)| def.id).ok().as_deref() != Some(row.id.as_str()) {
                return Err(RepositoryError::Conflict(format!(
                    "version {number} of {:?} was written under another id (before a rename); roll back to it to publish it under this one",
                    row.id
                )));
            }
            if row.published == Some(number) {
                return Err(RepositoryError::Conflict(format!(
                    "version {number} of {:?} is already in force",
                    row.id
                )));
            }
            change.expect.push((row.id.clone(), Some(row.revision)));
            change.writes.extend(Self::put_in_force(row, number, row.latest));
            change.writes.push(Write::VersionState {
                segment: row.id.clone(),
                version: number,
                state: VersionState::Published,
            });
            let mut entry = audit(actor, "publish", &row.id, &comment);
            (entry.from_version, entry.to_version) = (row.published, Some(number));
            entry.before = row.published.map(|v| self.text_of(&row.id, v).map(|t| t.text)).transpose()?;
            entry.after = Some(chosen.text.clone());
            change.audit.push(entry);
            texts.push((row.id.clone(), Some(chosen.text)));
        }
        self.check_published(&texts)?;
        self.store.commit(&change)?;
        self.deliver();
        items.iter().map(|item| self.get(&item.segment)).collect()
    }

    /// Publishes a copy of an old version of the edited segment as its newest.
    pub fn rollback(&self, edit: Edit<'_>, to_version: u32) -> Result<SegmentView, RepositoryError> {
        self.retrying_races(|| self.rollback_once(edit, to_version))
    }

    fn rollback_once(&self, edit: Edit<'_>, to_version: u32) -> Result<SegmentView, RepositoryError> {
        let (actor, id) = (edit.actor, edit.segment);
        let (row, comment) = self.based_on_with_comment(&edit, "rolling back")?;
        let ruleset = self.store.ruleset_version()?;
        let mut old = self.text_of(id, to_version)?;
        // A version from before a rename carries the old id: it comes back under this one
        // (any other is copied byte for byte).
        if parse_chunk(&old.text).map(|(def, _)| def.id).ok().as_deref() != Some(id) {
            old.text = with_id(&old.text, id).map_err(|e| RepositoryError::BadRequest(e.to_string()))?;
        }
        self.check_published(&[(id.to_string(), Some(old.text.clone()))])?;
        let number = row.latest + 1;
        let mut writes = Self::put_in_force(&row, number, number);
        writes.push(Write::Version(version(
            actor,
            id,
            number,
            &old.text,
            VersionState::Published,
            &comment,
        )));
        let mut entry = audit(actor, "rollback", id, &format!("to version {to_version}: {comment}"));
        (entry.from_version, entry.to_version) = (row.published, Some(number));
        entry.before = row.published.map(|v| self.text_of(id, v).map(|t| t.text)).transpose()?;
        entry.after = Some(old.text);
        self.commit_and_deliver(
            &ChangeSet {
                expect: vec![(id.into(), Some(row.revision))],
                expect_ruleset: Some(ruleset),
                writes,
                audit: vec![entry],
                bumps_ruleset: true,
            },
            id,
        )
    }
}
