//! The users' profiles and stats, published as the upserts a CDC pipeline and the batch
//! layer would send (into `user-profiles` and `user-stats`).
//!
//! Contract: [`upserts`] lists one record per user for each table, keyed by the
//! (prefixed) user id, the value the traffic model's profile or stats JSON (also what
//! `segstream broker-bench --tables` produces); [`publish`] produces them and waits for
//! the broker to acknowledge all of them.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::traffic::{Traffic, TrafficConfig};

/// Which table a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `user-profiles`.
    Profiles,
    /// `user-stats`.
    Stats,
}

/// Every user's profile and stats upsert: `(table, key, JSON value)`.
pub fn upserts(traffic: TrafficConfig, prefix: &str) -> impl Iterator<Item = (Table, String, String)> + '_ {
    let model = Traffic::new(traffic, 0, 1);
    (0..traffic.users).flat_map(move |user| {
        let key = format!("{prefix}u{user}");
        [
            (Table::Profiles, key.clone(), model.profile(user).to_string()),
            (Table::Stats, key, model.stats(user).to_string()),
        ]
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_a_profile_and_a_stats_record_under_its_prefixed_key() {
        let config = TrafficConfig {
            users: 3,
            ..TrafficConfig::default()
        };
        let all: Vec<(Table, String, String)> = upserts(config, "r1-").collect();
        assert_eq!(all.len(), 6);
        assert_eq!((all[4].0, all[4].1.as_str()), (Table::Profiles, "r1-u2"));
        assert_eq!((all[5].0, all[5].1.as_str()), (Table::Stats, "r1-u2"));
        assert!(all[4].2.contains("birthDate"), "{}", all[4].2);
    }
}
