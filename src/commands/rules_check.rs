//! `segstream rules check`: validate rule files and report like a compiler.
//!
//! Contract: prints every error (file:line:col, excerpt, caret) to stderr and exits 1
//! if there is any; otherwise prints a one-line summary of the set and exits 0.

use std::process::ExitCode;

use segstream_rules::{load_rule_files, Limits, UdfRegistry};

use super::rules_source::load_schema;
use crate::cli::CheckArgs;
use crate::error::CommandError;
use segstream_rules::files::read_toml_sources;

/// Runs the check.
pub fn run(args: &CheckArgs) -> Result<ExitCode, CommandError> {
    let schema = load_schema(&args.schema.schema)?;
    let sources = read_toml_sources(&args.paths)?;
    match load_rule_files(&sources, &schema, &UdfRegistry::new(), Limits::default()) {
        Ok((set, _)) => {
            let windowed = set.features().iter().filter(|f| f.window_ms.is_some()).count();
            let max_cost = set.segments().iter().map(|s| s.cost).max().unwrap_or(0);
            println!(
                "ok: {} segments in {} file(s); {} features ({} windowed); highest condition cost {}",
                set.segments().len(),
                sources.len(),
                set.features().len(),
                windowed,
                max_cost
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                super::report::diagnostic(&d.to_string());
            }
            super::report::failure(&format!("{} problem(s) found in {} file(s)", diagnostics.len(), sources.len()));
            Ok(ExitCode::from(1))
        }
    }
}
