//! Loading the schema and a rule set for a command, printing errors like a compiler.

use std::path::{Path, PathBuf};

use segstream_dataflows::rules::{load_rule_files, Limits, Schema, SegmentDef, UdfRegistry};

use super::schema::load_schema;
use crate::error::CommandError;
use crate::sources::read_toml_sources;

/// The schema and the checked segment definitions; rule errors are printed and fail.
pub fn load_schema_and_rules(schema: &Path, rules: &[PathBuf]) -> Result<(Schema, Vec<SegmentDef>), CommandError> {
    let schema = load_schema(schema)?;
    let sources = read_toml_sources(rules)?;
    match load_rule_files(&sources, &schema, &UdfRegistry::new(), Limits::default()) {
        Ok((_, defs)) => Ok((schema, defs)),
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| eprintln!("{d}\n"));
            Err(CommandError::Invalid(format!("{} problem(s) in the rules", diagnostics.len())))
        }
    }
}
