//! Durable storage of the rules repository, behind a trait.
//!
//! Contract: a [`RuleStore`] keeps segments (with a revision that changes on every
//! write, the `ETag`), their append-only versions, the rule files' preambles, one audit
//! row per action, and the rule-set version (bumped on every change to what is
//! published). Reads return what was last committed. [`RuleStore::commit`] applies a
//! [`ChangeSet`] all or nothing, and only if every revision it expects still holds;
//! otherwise it answers [`StoreError::Conflict`] and writes nothing. Version text, once
//! written, never changes; only a version's state moves (draft → published → archived).
//! [`sqlite::SqliteStore`] is the default; a server database can implement the same trait.

pub mod sqlite;

use serde::Serialize;

/// A segment as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentRow {
    /// The segment id.
    pub id: String,
    /// The rule file it belongs to (for export).
    pub file: String,
    /// Its place in that file.
    pub position: i64,
    /// Changes on every write to the segment.
    pub revision: u64,
    /// The version in force, if any.
    pub published: Option<u32>,
    /// The newest version.
    pub latest: u32,
    /// Deleted: not published, kept for its history.
    pub archived: bool,
}

/// Where a version stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionState {
    /// Saved, never published.
    Draft,
    /// In force.
    Published,
    /// Was published, and was replaced or withdrawn.
    Archived,
}

impl VersionState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Draft => "draft",
            VersionState::Published => "published",
            VersionState::Archived => "archived",
        }
    }

    /// From its stored name.
    pub fn parse(text: &str) -> Option<VersionState> {
        match text {
            "draft" => Some(VersionState::Draft),
            "published" => Some(VersionState::Published),
            "archived" => Some(VersionState::Archived),
            _ => None,
        }
    }
}

/// One version of a segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    /// The segment.
    pub segment: String,
    /// 1, 2, 3… per segment.
    pub version: u32,
    /// The `[[segment]]` table's text.
    pub text: String,
    /// Its state.
    pub state: VersionState,
    /// Who wrote it.
    pub author: String,
    /// When (ms since the epoch).
    pub created_at: u64,
    /// Why.
    pub comment: String,
}

/// What happened, by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Its number (assigned by the store).
    pub id: u64,
    /// When (ms since the epoch).
    pub at: u64,
    /// Who (the token's name).
    pub actor: String,
    /// What: create, save, publish, rollback, delete, rename, import.
    pub action: String,
    /// Which segment.
    pub segment: String,
    /// The version in force before.
    pub from_version: Option<u32>,
    /// The version in force (or saved) after.
    pub to_version: Option<u32>,
    /// The text before.
    pub before: Option<String>,
    /// The text after.
    pub after: Option<String>,
    /// Why.
    pub comment: String,
}

/// A rule file's text before its first table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRow {
    /// The file name.
    pub name: String,
    /// Its leading comments.
    pub preamble: String,
}

/// One write of a change set, applied in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Creates or overwrites a segment's row; its revision moves on by one.
    Segment {
        /// Id.
        id: String,
        /// File.
        file: String,
        /// Place in the file.
        position: i64,
        /// Version in force.
        published: Option<u32>,
        /// Newest version.
        latest: u32,
        /// Deleted.
        archived: bool,
    },
    /// Appends a version (its number must be the segment's next).
    Version(VersionRow),
    /// Moves a version's state.
    VersionState {
        /// Segment.
        segment: String,
        /// Version.
        version: u32,
        /// New state.
        state: VersionState,
    },
    /// Sets a file's preamble.
    File(FileRow),
    /// Moves a segment, its versions and its audit rows to a new id.
    Rename {
        /// Old id.
        from: String,
        /// New id.
        to: String,
    },
}

/// An atomic change to the repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Each segment's revision as read (`None`: it must not exist).
    pub expect: Vec<(String, Option<u64>)>,
    /// The rule-set version as read, when the change depends on the whole published set.
    pub expect_ruleset: Option<u64>,
    /// The writes.
    pub writes: Vec<Write>,
    /// What to record (ids are assigned).
    pub audit: Vec<AuditRow>,
    /// Whether what is published changes (the rule-set version moves on).
    pub bumps_ruleset: bool,
}

/// Why the store could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A revision expected by a change no longer holds.
    #[error("changed meanwhile: {0}")]
    Conflict(String),
    /// The database is locked or busy beyond the wait.
    #[error("the rules database is busy or locked; retry: {0}")]
    Busy(String),
    /// The database file is damaged or not a database.
    #[error("the rules database is damaged: {0}")]
    Corrupt(String),
    /// Any other storage failure.
    #[error("the rules database failed: {0}")]
    Failed(String),
}

/// Durable storage (see the module contract).
pub trait RuleStore: Send + Sync {
    /// Every segment, archived ones included, by file and position.
    fn segments(&self) -> Result<Vec<SegmentRow>, StoreError>;
    /// A segment's versions, oldest first.
    fn versions(&self, segment: &str) -> Result<Vec<VersionRow>, StoreError>;
    /// One version.
    fn version(&self, segment: &str, version: u32) -> Result<Option<VersionRow>, StoreError>;
    /// Every file's preamble.
    fn files(&self) -> Result<Vec<FileRow>, StoreError>;
    /// The newest audit rows (of one segment, if given), newest first.
    fn audit(&self, segment: Option<&str>, limit: usize) -> Result<Vec<AuditRow>, StoreError>;
    /// The rule-set version (0 before the first publish).
    fn ruleset_version(&self) -> Result<u64, StoreError>;
    /// Applies a change set (see the module contract); returns the rule-set version after.
    fn commit(&self, change: &ChangeSet) -> Result<u64, StoreError>;
}
