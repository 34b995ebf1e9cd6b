//! `segstream rules eval`: evaluate segments against a sample user view.
//!
//! Contract: loads the rules and the view, computes the features the rules read with
//! the reference computation, and prints each segment's result (true, false or
//! missing) with the feature values it read. Exits 1 if the rules or view are invalid.

use std::process::ExitCode;

use segstream_rules::{load_rule_files, FieldValue, Limits, SampleView, UdfRegistry};
use segstream_time::{format_timestamp, parse_duration};

use super::rules_source::load_schema;
use crate::cli::{EvalArgs, Format};
use crate::error::CommandError;
use segstream_rules::files::{read_text, read_toml_sources};

fn show(value: &Option<FieldValue>) -> String {
    value.as_ref().map_or("missing".to_string(), |v| v.to_json().to_string())
}

/// Runs the evaluation.
pub fn run(args: &EvalArgs) -> Result<ExitCode, CommandError> {
    let tick_ms = parse_duration(&args.tick).map_err(|e| CommandError::Invalid(format!("--tick: {e}")))?;
    if tick_ms <= 0 {
        return Err(CommandError::Invalid("--tick must be longer than zero".into()));
    }
    if args.rule.is_empty() {
        return Err(CommandError::Invalid("give at least one --rule FILE or directory".into()));
    }
    let schema = load_schema(&args.schema.schema)?;
    let sources = read_toml_sources(&args.rule)?;
    let (set, _) = match load_rule_files(&sources, &schema, &UdfRegistry::new(), Limits::default()) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| super::report::diagnostic(&d.to_string()));
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(id) = &args.segment {
        if !set.segments().iter().any(|s| &s.def.id == id) {
            return Err(CommandError::Invalid(format!("no segment {id:?} in the given rules")));
        }
    }
    let view_source = read_text(&args.view)?;
    let sample = match SampleView::from_json(&view_source.text, &schema, tick_ms) {
        Ok(sample) => sample,
        Err(e) => {
            super::report::failure(&format!("{}: {e}", view_source.name));
            return Ok(ExitCode::from(1));
        }
    };
    let features = sample.features(&schema, set.features(), tick_ms);
    let view = sample.view(&features);
    if args.format == Format::Text {
        println!("now: {}", format_timestamp(sample.now));
    }
    for (segment, result) in set.evaluate(&view) {
        if args.segment.as_ref().is_some_and(|id| id != &segment.def.id) {
            continue;
        }
        let read = segment
            .reads
            .features
            .iter()
            .map(|&slot| (set.features()[slot].describe(&schema), &features[slot]));
        match args.format {
            Format::Text => {
                println!("{:<28} {}", segment.def.id, result.map_or("missing".to_string(), |b| b.to_string()));
                for (feature, value) in read {
                    println!("    {feature} = {}", show(value));
                }
            }
            Format::Json => {
                let reads: serde_json::Map<String, serde_json::Value> = read
                    .map(|(k, v)| (k, v.as_ref().map_or(serde_json::Value::Null, FieldValue::to_json)))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "segment": segment.def.id, "result": result, "features": reads })
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
