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
    /// Rule, schema or view files could not be read or compiled.
    #[error(transparent)]
    File(#[from] segstream_rules::files::FileError),
    /// The deployment configuration is invalid.
    #[error(transparent)]
    Config(#[from] segstream_config::ConfigError),
    /// A flag value or input document is invalid.
    #[error("{0}")]
    Invalid(String),
}
