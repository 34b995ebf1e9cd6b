//! `segstream rules publish`: validate rule files and publish them as one set.
//!
//! Contract: the files are checked exactly like `segstream rules check` (every error
//! printed, nothing published if any); a valid set is produced as one record to the
//! rules topic ([`segstream_kafka::rules_topic`]) and the command waits for the
//! broker's acknowledgement. Running classifiers apply the difference live. A set
//! published from files has rule-set version 0 (the console's repository numbers its own).

use std::process::ExitCode;
use std::time::Duration;

use super::rules_source::load_schema_and_rules;
use crate::cli::PublishArgs;
use crate::error::CommandError;
use segstream_config::DeploymentConfig;
use segstream_kafka::rules_topic::publish_rules;
use segstream_rules::files::read_toml_sources;
use segstream_rules::snapshot::{RuleFile, RulesSnapshot};

/// Publishes the rules.
pub fn run(args: &PublishArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let (_, defs) = load_schema_and_rules(&config.schema.path, &args.paths)?;
    let files = read_toml_sources(&args.paths)?
        .into_iter()
        .map(|s| RuleFile {
            name: s.name,
            text: s.text,
        })
        .collect();
    let snapshot = RulesSnapshot {
        published_at: segstream_time::wall_clock_ms(),
        version: 0,
        files,
    };
    publish_rules(&config, &snapshot, Duration::from_secs(30)).map_err(CommandError::Invalid)?;
    println!("rules: published {} segments to {}", defs.len(), config.topics.rules);
    Ok(ExitCode::SUCCESS)
}
