//! Loading the schema and a rule set for a command, printing errors like a compiler.

use std::path::{Path, PathBuf};

use segstream_rules::files::{self, FileError};
use segstream_rules::{Schema, SegmentDef};

use crate::error::CommandError;

/// Reads and parses the schema; prints located errors and fails if it has any.
pub fn load_schema(path: &Path) -> Result<Schema, CommandError> {
    files::load_schema(path).map_err(printed)
}

/// The schema and the checked segment definitions; rule errors are printed and fail.
pub fn load_schema_and_rules(schema: &Path, rules: &[PathBuf]) -> Result<(Schema, Vec<SegmentDef>), CommandError> {
    files::load_rules(schema, rules)
        .map(|loaded| (loaded.schema, loaded.defs))
        .map_err(printed)
}

/// The error, after printing its located diagnostics.
fn printed(error: FileError) -> CommandError {
    error.diagnostics().iter().for_each(|d| super::report::diagnostic(&d.to_string()));
    CommandError::File(error)
}
