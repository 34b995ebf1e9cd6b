//! Errors of the `segstream` commands.
//!
//! Contract: every failure that stops a command is a [`CommandError`] that names what
//! failed (a path, a flag) and why, printable as one line.

use std::path::PathBuf;

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{path} is not UTF-8 text (is it a binary file?)")]
    NotText {
        /// The path.
        path: PathBuf,
    },
    /// A file is larger than accepted.
    #[error("{path} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A directory holds no files of the wanted kind.
    #[error("{path} contains no .toml files")]
    NoFiles {
        /// The directory.
        path: PathBuf,
    },
    /// The schema has errors (already printed).
    #[error("the schema {path} has {count} error(s)")]
    Schema {
        /// The schema path.
        path: PathBuf,
        /// How many errors.
        count: usize,
    },
    /// A flag value or input document is invalid.
    #[error("{0}")]
    Invalid(String),
}
