//! The rules repository: what marketers' edits may do, over a [`RuleStore`].
//!
//! Contract: every write names the segment's `ETag` it was based on (the revision it
//! read): a missing one is [`RepositoryError::PreconditionRequired`], a stale one
//! [`RepositoryError::Stale`], and the store's revision check makes the two-writer race
//! end the same way. Versions are append-only: saving appends a draft, publishing moves
//! the published pointer, rolling back appends a copy of an old version and publishes
//! it, deleting archives. Every change to what is published is validated as the whole
//! set it would produce, bumps the rule-set version, and is handed to the
//! [`RuleChannel`] after it is committed (the channel, not the history, reaches
//! classifiers; see [`delivery`]). A segment another one names as its `parent` cannot
//! be deleted or renamed; the dependents are listed. Every action writes an audit row.

pub mod delivery;
mod edits;
mod publishing;
mod transfer;
mod validation;

use std::sync::{Arc, Mutex};

use segstream_rules::{Limits, Schema, UdfRegistry};
use serde::Serialize;

pub use delivery::{Delivery, RuleChannel};
pub use publishing::PublishItem;
pub use transfer::ImportedFile;
pub use validation::Problem;

use crate::store::{AuditRow, RuleStore, SegmentRow, StoreError, VersionRow};

/// Who acts (from the bearer token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The token's name.
    pub name: String,
}

/// A write to one segment: who, which, the `ETag` it was based on, and why.
#[derive(Clone, Copy, Debug)]
pub struct Edit<'a> {
    /// Who.
    pub actor: &'a Actor,
    /// The segment.
    pub segment: &'a str,
    /// The `If-Match` it carries.
    pub if_match: Option<&'a str>,
    /// Why.
    pub comment: &'a str,
}

/// Why a repository action was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// No such segment or version.
    #[error("{0}")]
    NotFound(String),
    /// A write without `If-Match`.
    #[error("this write needs an If-Match header with the segment's ETag (read it with GET first)")]
    PreconditionRequired,
    /// A write based on an older revision.
    #[error("segment {segment:?} changed since you read it (now {current}); reload, merge and retry")]
    Stale {
        /// The segment.
        segment: String,
        /// Its current ETag.
        current: String,
    },
    /// Creating what exists, or publishing what is in force.
    #[error("{0}")]
    Conflict(String),
    /// Rules that do not check.
    #[error("the rules do not check: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// Other segments name this one as their parent.
    #[error("segment {segment:?} is the parent of {}; change those first", dependents.join(", "))]
    Dependents {
        /// The segment.
        segment: String,
        /// Who names it.
        dependents: Vec<String>,
    },
    /// A request that cannot mean anything.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A segment as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentView {
    /// The stored row.
    #[serde(flatten)]
    pub row: SegmentRow,
    /// Its `ETag`.
    pub etag: String,
    /// The human name of its newest version.
    pub name: String,
    /// The text in force, if published.
    pub published_text: Option<String>,
    /// The newest text (a draft when newer than the published one).
    pub latest_text: String,
}

/// The `ETag` of a revision.
pub fn etag(revision: u64) -> String {
    format!("\"r{revision}\"")
}

/// The rules repository (see the module contract).
pub struct Repository {
    store: Arc<dyn RuleStore>,
    schema: Arc<Schema>,
    udfs: UdfRegistry,
    limits: Limits,
    delivery: Delivery,
    /// Serialises this process's writes, so they never race each other; the store's
    /// revision check still settles races with other processes.
    writes: Mutex<()>,
}

/// Audit rows are read back at most this many at a time.
pub const AUDIT_PAGE: usize = 500;

impl Repository {
    /// A repository over `store`, checking rules against `schema`, handing what is
    /// published to `channel`.
    pub fn new(store: Arc<dyn RuleStore>, schema: Arc<Schema>, channel: Arc<dyn RuleChannel>) -> Repository {
        Repository {
            store,
            schema,
            udfs: UdfRegistry::new(),
            limits: Limits::default(),
            delivery: Delivery::new(channel),
            writes: Mutex::new(()),
        }
    }

    /// The schema rules are checked against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The rule-set version and whether the channel has it.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    fn row(&self, id: &str) -> Result<SegmentRow, RepositoryError> {
        self.store
            .segments()?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| RepositoryError::NotFound(format!("no segment {id:?}")))
    }

    fn text_of(&self, id: &str, version: u32) -> Result<VersionRow, RepositoryError> {
        self.store
            .version(id, version)?
            .ok_or_else(|| RepositoryError::NotFound(format!("segment {id:?} has no version {version}")))
    }

    /// The segment an edit is based on, if its `ETag` still holds.
    fn based_on(&self, edit: &Edit<'_>) -> Result<SegmentRow, RepositoryError> {
        let row = self.row(edit.segment)?;
        Self::check_etag(&row, edit.if_match)?;
        if row.archived {
            return Err(RepositoryError::Conflict(format!(
                "segment {:?} is deleted; create it again to bring it back",
                row.id
            )));
        }
        Ok(row)
    }

    /// Commits a change to what may be in force, hands the result to the channel, and
    /// shows segment `shown`.
    fn commit_and_deliver(&self, change: &crate::store::ChangeSet, shown: &str) -> Result<SegmentView, RepositoryError> {
        self.store.commit(change)?;
        self.deliver();
        self.get(shown)
    }

    /// The segment a commented edit is based on, and its comment (see [`Self::based_on`]).
    fn based_on_with_comment(&self, edit: &Edit<'_>, action: &str) -> Result<(SegmentRow, String), RepositoryError> {
        let comment = required_comment(edit.comment, action)?;
        Ok((self.based_on(edit)?, comment))
    }

    /// Checks the `If-Match` a write carries against the segment's revision.
    fn check_etag(row: &SegmentRow, if_match: Option<&str>) -> Result<(), RepositoryError> {
        let presented = if_match.ok_or(RepositoryError::PreconditionRequired)?;
        let current = etag(row.revision);
        // `*` is not accepted: a write names the version it was reviewed at.
        let matches = presented.split(',').map(str::trim).any(|t| t == current);
        if matches {
            Ok(())
        } else {
            Err(RepositoryError::Stale {
                segment: row.id.clone(),
                current,
            })
        }
    }

    fn view(&self, row: SegmentRow) -> Result<SegmentView, RepositoryError> {
        let latest = self.text_of(&row.id, row.latest)?;
        let published_text = match row.published {
            Some(v) if v == row.latest => Some(latest.text.clone()),
            Some(v) => Some(self.text_of(&row.id, v)?.text),
            None => None,
        };
        let name = crate::segment_text::parse_chunk(&latest.text)
            .map(|(def, _)| def.name)
            .unwrap_or_default();
        Ok(SegmentView {
            etag: etag(row.revision),
            name,
            published_text,
            latest_text: latest.text,
            row,
        })
    }

    /// Every segment that is not deleted, by file and position.
    pub fn list(&self) -> Result<Vec<SegmentView>, RepositoryError> {
        self.store
            .segments()?
            .into_iter()
            .filter(|s| !s.archived)
            .map(|row| self.view(row))
            .collect()
    }

    /// One segment (deleted ones too, for their history).
    pub fn get(&self, id: &str) -> Result<SegmentView, RepositoryError> {
        let row = self.row(id)?;
        self.view(row)
    }

    /// The definition in force of segment `id`, if it exists and is published.
    pub fn published_def(&self, id: &str) -> Result<Option<segstream_rules::SegmentDef>, RepositoryError> {
        let Some(row) = self.store.segments()?.into_iter().find(|s| s.id == id && !s.archived) else {
            return Ok(None);
        };
        let Some(published) = row.published else { return Ok(None) };
        let text = self.text_of(id, published)?.text;
        Ok(crate::segment_text::parse_chunk(&text).ok().map(|(def, _)| def))
    }

    /// A segment's versions, oldest first.
    pub fn versions(&self, id: &str) -> Result<Vec<VersionRow>, RepositoryError> {
        self.row(id)?;
        Ok(self.store.versions(id)?)
    }

    /// The newest audit rows, of one segment if given.
    pub fn audit(&self, segment: Option<&str>) -> Result<Vec<AuditRow>, RepositoryError> {
        Ok(self.store.audit(segment, AUDIT_PAGE)?)
    }
}

/// How often a change whose check raced another process's writer is recomputed.
const RACE_RETRIES: usize = 8;

impl Repository {
    /// Runs `attempt` holding this process's write lock, and again when the store says
    /// something it read changed meanwhile (another process wrote): the next attempt
    /// reads again, re-checks the caller's `ETag`s (a real conflict then shows as
    /// [`RepositoryError::Stale`]) and the whole set, so two publishes of different
    /// segments both land.
    fn retrying_races<T>(&self, mut attempt: impl FnMut() -> Result<T, RepositoryError>) -> Result<T, RepositoryError> {
        let _serialised = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tries = 0;
        loop {
            match attempt() {
                Err(RepositoryError::Store(StoreError::Conflict(_))) if tries < RACE_RETRIES => tries += 1,
                other => return other,
            }
        }
    }
}

/// A comment a change must carry.
fn required_comment(comment: &str, action: &str) -> Result<String, RepositoryError> {
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(RepositoryError::BadRequest(format!("{action} needs a comment saying why")));
    }
    Ok(comment.to_string())
}

#[cfg(test)]
mod tests;
