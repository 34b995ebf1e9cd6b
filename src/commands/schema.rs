//! Loading the schema for a command, printing its errors like a compiler.

use std::path::Path;

use segstream_dataflows::rules::{Diagnostic, Schema};

use crate::error::CommandError;
use crate::sources::read_text;

/// Reads and parses the schema; prints located errors and fails if it has any.
pub fn load_schema(path: &Path) -> Result<Schema, CommandError> {
    let source = read_text(path)?;
    Schema::from_toml(&source.text).map_err(|errors| {
        for e in &errors {
            eprintln!("{}\n", Diagnostic::new(&source.name, &source.text, e.span, &e.message));
        }
        CommandError::Schema {
            path: path.to_path_buf(),
            count: errors.len(),
        }
    })
}
