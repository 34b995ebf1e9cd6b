//! Publishing the traffic model's profiles and stats to the broker before a run, as a
//! CDC pipeline and the batch layer would (into `user-profiles` and `user-stats`).
//!
//! Contract: [`publish`] produces every record of [`segstream_traffic::tables::upserts`]
//! and waits for the broker to acknowledge all of them. Every record carries one
//! timestamp, [`LEAD`] after the publish's start, so the classifier applies them all at
//! one tick, as the exact check assumes. A side record takes effect at the later of its
//! timestamp and the classifier's current input time, which follows the wall clock
//! while no events arrive: stamped with the publish's start (or their produce times),
//! records that arrived seconds into the ~20 s a large table takes landed ticks apart.
//! Stamped ahead, every record is ahead of that time when it arrives; the classifier
//! accepts timestamps up to its future tolerance (default 1 minute) ahead of its clock.
//! A publish that takes longer than the lead is an error.

use std::time::{Duration, Instant};

/// How far ahead of the publish's start the tables are stamped: longer than publishing
/// 10,000 users' tables takes here (about 10 s), shorter than the classifier's future
/// tolerance (1 minute by default).
pub const LEAD: Duration = Duration::from_secs(40);

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use segstream_traffic::tables::{upserts, Table};
use segstream_traffic::TrafficConfig;

/// Publishes every user's profile and stats; returns the records produced and the
/// time (ms) they are stamped with.
pub fn publish(brokers: &str, profiles_topic: &str, stats_topic: &str, traffic: TrafficConfig, prefix: &str) -> Result<(u64, u64), String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .map_err(|e| format!("kafka producer: {e}"))?;
    let mut produced = 0;
    let started = Instant::now();
    let stamp = segstream_time::wall_clock_ms() + LEAD.as_millis() as u64;
    let published_at = i64::try_from(stamp).unwrap_or(i64::MAX);
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
    if started.elapsed() >= LEAD {
        return Err(format!(
            "publishing {produced} profiles and stats took {:.0?}, longer than the {LEAD:?} they are stamped ahead \
             (so they would not land at one tick): use fewer --users",
            started.elapsed()
        ));
    }
    Ok((produced, stamp))
}
