//! Publishing the traffic model's profiles and stats to the broker before a run, as a
//! CDC pipeline and the batch layer would (into `user-profiles` and `user-stats`).
//!
//! Contract: [`publish`] produces every record of [`segstream_traffic::tables::upserts`]
//! and waits for the broker to acknowledge all of them.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use segstream_traffic::tables::{upserts, Table};
use segstream_traffic::TrafficConfig;

/// Publishes every user's profile and stats; returns the records produced.
pub fn publish(brokers: &str, profiles_topic: &str, stats_topic: &str, traffic: TrafficConfig, prefix: &str) -> Result<u64, String> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .map_err(|e| format!("kafka producer: {e}"))?;
    let mut produced = 0;
    for (table, key, payload) in upserts(traffic, prefix) {
        let topic = match table {
            Table::Profiles => profiles_topic,
            Table::Stats => stats_topic,
        };
        let mut record = BaseRecord::to(topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("producing to {topic}: {e}")),
            }
        }
        produced += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("profiles and stats not acknowledged: {e}"))?;
    Ok(produced)
}
