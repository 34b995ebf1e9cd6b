//! segstream-lake: the lake's raw event table on Delta Lake (delta-rs), written
//! exactly once.
//!
//! Contract: [`raw_table::RawTable`] opens (or creates) the raw table at a
//! [`location::TableLocation`] and commits batches of [`records::SourceRecord`]s — the
//! records of the `events` topic, every one of them, late or not — each commit carrying,
//! per source partition, the next offset to read as a Delta application transaction
//! (`txn`), in the same atomic log entry as the files. A restarted writer reads those
//! offsets back ([`raw_table::RawTable::resume_offsets`]) and resumes there, so a crash
//! at any point neither loses a record nor commits one twice. Files are Parquet with
//! zstd, page statistics and Bloom filters on `user` and `event_id`, partitioned by the
//! ingest hour (`year`/`month`/`day`/`hour`, UTC, as the seed's Firehose wrote them).
//! The crate knows nothing of Kafka: the caller reads the topic.
#![deny(missing_docs)]

mod added_files;
pub mod curated;
pub mod error;
pub mod event_head;
pub mod location;
pub mod metrics;
pub mod parquet_file;
pub mod raw_table;
pub mod records;
pub mod stats;
pub mod table_shape;
#[cfg(test)]
mod test_lake;

pub use error::LakeError;

/// The single-threaded tokio runtime the lake's async calls run on (the writer, tools
/// and tests block on them from ordinary threads).
pub fn runtime() -> Result<tokio::runtime::Runtime, LakeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LakeError::Batch(format!("starting the tokio runtime: {e}")))
}
