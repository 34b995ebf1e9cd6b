//! Publishing the traffic model's profiles and stats to the broker before a run, as a
//! CDC pipeline and the batch layer would (into `user-profiles` and `user-stats`).
//!
//! Contract: [`publish`] produces every record of [`segstream_traffic::tables::upserts`]
//! and waits for the broker to acknowledge all of them. Every record carries one
//! timestamp, the publish's start, so the classifier applies them all at one tick, as
//! the exact check assumes (with produce times, spread over the ~20 s a large table
//! takes, each user's start-up memberships landed a few ticks apart).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use segstream_traffic::tables::{upserts, Table};
use segstream_traffic::TrafficConfig;

/// Publishes every user's profile and stats; returns the records produced.
pub fn publish(brokers: &str, profiles_topic: &str, stats_topic: &str, traffic: TrafficConfig, prefix: &str) -> Result<u64, String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .map_err(|e| format!("kafka producer: {e}"))?;
    let mut produced = 0;
    let published_at = i64::try_from(segstream_time::wall_clock_ms()).unwrap_or(i64::MAX);
    for (table, key, payload) in upserts(traffic, prefix) {
        let topic = match table {
            Table::Profiles => profiles_topic,
            Table::Stats => stats_topic,
        };
        segstream_kafka::send_waiting(&producer, BaseRecord::to(topic).key(&key).payload(&payload).timestamp(published_at))
            .map_err(|e| format!("producing to {topic}: {e}"))?;
        producer.poll(Duration::ZERO);
        produced += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("profiles and stats not acknowledged: {e}"))?;
    Ok(produced)
}
