//! The lake's errors.
//!
//! Contract: every error names what failed — the location, the table or the file — and
//! why, in words an operator can act on; none is a panic.

/// What went wrong in the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The table location is not understood.
    #[error("table location {location:?}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it is not understood.
        reason: String,
    },
    /// The table (its log, or a file it names) could not be read or written.
    #[error("delta table {location}: {source}")]
    Table {
        /// The table's URL.
        location: String,
        /// The underlying failure (boxed: it is large).
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// A batch could not be built.
    #[error("building a batch: {0}")]
    Batch(String),
    /// The table exists but is not the segstream table wanted there.
    #[error("delta table {location} is not a segstream {kind} table: {reason}")]
    WrongTable {
        /// The table's URL.
        location: String,
        /// The kind wanted (raw, curated).
        kind: &'static str,
        /// What differs.
        reason: String,
    },
    /// A query of the stats job failed.
    #[error("{what}: {reason}")]
    Query {
        /// What the query was for.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// Publishing a result failed.
    #[error("publishing stats: {0}")]
    Publish(String),
    /// A data file of a table is damaged or not what the table says.
    #[error("parquet file {file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl LakeError {
    /// `file` is damaged: `reason`.
    pub fn file(file: impl Into<String>, reason: impl Into<String>) -> LakeError {
        LakeError::File {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// The table at `location` failed with `source`.
    pub fn table(location: impl Into<String>, source: deltalake::DeltaTableError) -> LakeError {
        LakeError::Table {
            location: location.into(),
            source: Box::new(source),
        }
    }
}
