//! The users' profiles and stats, published as the upserts a CDC pipeline and the batch
//! layer would send (into `user-profiles` and `user-stats`).
//!
//! Contract: [`publish`] produces one record per user to each topic, keyed by the
//! (prefixed) user id, the value the traffic model's profile or stats JSON, and waits
//! for the broker to acknowledge all of them.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::traffic::{Traffic, TrafficConfig};

/// Publishes every user's profile and stats; returns the records produced.
pub fn publish(brokers: &str, profiles_topic: &str, stats_topic: &str, traffic: TrafficConfig, prefix: &str) -> Result<u64, String> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .map_err(|e| format!("kafka producer: {e}"))?;
    let model = Traffic::new(traffic, 0, 1);
    let mut produced = 0;
    for user in 0..traffic.users {
        let key = format!("{prefix}u{user}");
        for (topic, value) in [(profiles_topic, model.profile(user)), (stats_topic, model.stats(user))] {
            let payload = value.to_string();
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
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("profiles and stats not acknowledged: {e}"))?;
    Ok(produced)
}
