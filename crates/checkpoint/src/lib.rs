//! segstream-checkpoint: the classifier's checkpoints in a local directory or an S3
//! bucket.
//!
//! Contract: a checkpoint as of tick `T` is one *part* per classifier worker — the
//! engine's snapshot as bytes ([`segstream_dataflows::classifier::EngineSnapshot`])
//! and the resume points of the partitions the worker read — and a *manifest*, written
//! last, that lists every part with its size and CRC-32 and every partition's resume
//! point. [`CheckpointStore::write_part`] writes a part (its state, then its header);
//! [`CheckpointStore::commit`] writes the manifest once every part of `T` is there;
//! [`CheckpointStore::latest`] returns the newest checkpoint with a manifest whose parts
//! are all present and intact, read and checked — a partial checkpoint (no manifest)
//! or a corrupt one (a part missing, or failing its checksum) is skipped for the one
//! before it, and every process that reads the store comes to the same answer;
//! [`CheckpointStore::retain`] deletes all but the newest complete checkpoints and the
//! parts they read. A part may be a delta on the same worker's part of an earlier
//! checkpoint of the same run ([`PartHeader::base`], [`PartHeader::run`]): the manifest
//! then lists the chain back to a full part ([`Manifest::links`]), a restore reads it
//! whole ([`Checkpoint::chains`]), and a checkpoint whose chain has lost a link never
//! commits. Layout
//! under the location: `<T, 20 digits>/part-<worker>-of-<workers>.state` and `.json`,
//! `<T>/manifest.json`; the zero-padded tick sorts checkpoints by time.
//!
//! The store is `object_store`'s (the lake's, through delta-rs): a path or `file://` URL
//! is a local directory (created), `s3://bucket/prefix` a bucket configured by the
//! environment as AWS tools are (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`). Calls block: the store runs
//! its own single-threaded tokio runtime, so hosts call it from a thread of their own.
#![deny(missing_docs)]

mod layout;
mod store;

pub use layout::{Manifest, PartHeader};
pub use store::{Checkpoint, CheckpointStore};

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The location is not a directory, `file://` or `s3://` URL.
    #[error("checkpoint location {location:?}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The store refused or failed a request.
    #[error("checkpoint store: {0}")]
    Store(#[from] object_store::Error),
    /// A local file could not be written (tests, operators).
    #[error("checkpoint file: {0}")]
    Io(#[from] std::io::Error),
    /// A header or manifest does not decode.
    #[error("checkpoint {path}: {reason}")]
    Corrupt {
        /// The object.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}
