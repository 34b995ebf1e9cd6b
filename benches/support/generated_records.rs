//! The lake benchmarks' input: topic records of the game's generated event mix.
//!
//! Contract: [`generated_records`] makes `count` records of `users` users from the
//! generator seeded `seed` (no retries, no malformed lines), the i-th at event time `first_ms + i * step_ms`, spread over
//! `partitions` partitions with consecutive offsets, ingested at `first_ms`.

use segstream_lake::records::SourceRecord;
use segstream_traffic::{Traffic, TrafficConfig};

/// See the module contract.
pub fn generated_records(seed: u64, count: usize, users: u64, first_ms: u64, step_ms: f64, partitions: i32) -> Vec<SourceRecord> {
    let config = TrafficConfig {
        users,
        seed,
        duplicate_rate: 0.0,
        malformed_rate: 0.0,
        ..TrafficConfig::default()
    };
    let mut traffic = Traffic::new(config, 0, 1);
    (0..count)
        .map(|i| {
            let line = traffic.next_line(first_ms + (i as f64 * step_ms) as u64);
            SourceRecord {
                partition: i as i32 % partitions,
                offset: i as i64 / partitions as i64,
                key: None,
                payload: Some(line.into_bytes()),
                timestamp_ms: Some(first_ms as i64),
            }
        })
        .collect()
}
