//! `segstream rules publish`: validate rule files and publish them as one set.
//!
//! Contract: the files are checked exactly like `segstream rules check` (every error
//! printed, nothing published if any); a valid set is produced as one record to the
//! rules topic (key `rules`, so compaction keeps the latest) and the command waits for
//! the broker's acknowledgement. Running classifiers apply the difference live.

use std::process::ExitCode;
use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};

use super::rules_source::load_schema_and_rules;
use crate::cli::PublishArgs;
use crate::error::CommandError;
use segstream_config::DeploymentConfig;
use segstream_rules::files::read_toml_sources;
use segstream_rules::snapshot::{RuleFile, RulesSnapshot};

/// The key of rules records.
pub const RULES_KEY: &str = "rules";

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
    let published_at = segstream_time::wall_clock_ms();
    let snapshot = RulesSnapshot {
        published_at,
        version: 0,
        files,
    };
    let payload = serde_json::to_string(&snapshot).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let producer = segstream_kafka::producer(&config).map_err(|e| CommandError::Invalid(format!("kafka producer: {e}")))?;
    producer
        .send(
            BaseRecord::to(&config.topics.rules)
                .key(RULES_KEY)
                .payload(&payload)
                .timestamp(published_at as i64),
        )
        .map_err(|(e, _)| CommandError::Invalid(format!("publishing to {}: {e}", config.topics.rules)))?;
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| CommandError::Invalid(format!("publishing to {}: {e}", config.topics.rules)))?;
    println!("rules: published {} segments to {}", defs.len(), config.topics.rules);
    Ok(ExitCode::SUCCESS)
}
