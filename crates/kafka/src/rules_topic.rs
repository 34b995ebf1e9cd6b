//! Publishing a whole rule set to the compacted rules topic.
//!
//! Contract: [`publish_rules`] produces the snapshot as one record keyed [`RULES_KEY`]
//! (so compaction keeps the latest) with the snapshot's `published_at` as its
//! timestamp, and returns only once the broker acknowledged it, or says why not within
//! `timeout`. Every classifier reads this topic from the start and applies the
//! difference to the set it holds. `segstream rules publish` and the console's Kafka
//! channel both publish through here.

use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};
use segstream_config::DeploymentConfig;
use segstream_rules::snapshot::RulesSnapshot;

/// The key of rules records.
pub const RULES_KEY: &str = "rules";

/// Produces `snapshot` to the rules topic and waits for the acknowledgement.
pub fn publish_rules(config: &DeploymentConfig, snapshot: &RulesSnapshot, timeout: Duration) -> Result<(), String> {
    let payload = serde_json::to_string(snapshot).map_err(|e| e.to_string())?;
    let producer = crate::producer(config).map_err(|e| format!("kafka producer: {e}"))?;
    let topic = &config.topics.rules;
    producer
        .send(
            BaseRecord::to(topic)
                .key(RULES_KEY)
                .payload(&payload)
                .timestamp(snapshot.published_at as i64),
        )
        .map_err(|(e, _)| format!("publishing to {topic}: {e}"))?;
    producer
        .flush(timeout)
        .map_err(|e| format!("publishing to {topic}: not acknowledged: {e}"))
}
