//! Each classifier worker's moves (users entering and leaving segments) per minute,
//! reported to Redis for the console's hourly counts (`segstream classify`).
//!
//! Contract: [`MoveReporter::record`] takes every change a worker writes to the
//! profile store (so the replay after a restart, which the sink drops, is not counted
//! again) and counts it in the minute of the wall clock it is written at. The buckets it
//! touched go, with their absolute counts, to a writer thread ([`super::redis_writer`])
//! that writes them to `segstream_redis::segment_moves` under this worker's run name.
//! Buckets older than an hour are forgotten. After a crash, the changes written between
//! the last durable frontier and the crash are written again by the restarted run, so
//! they can count twice in that hour; nothing is lost.

use std::collections::BTreeMap;
use std::sync::mpsc::SyncSender;

use segstream_model::change::ChangeKey;
use segstream_redis::segment_moves::{try_write, Bucket};
use segstream_redis::Retrying;

use super::redis_writer::{spawn, Pending};

/// Minutes of buckets kept (the console sums the last hour).
const HOUR_MINUTES: u64 = 60;
const MINUTE_MS: u64 = 60_000;

/// Buckets to write, newest counts per (minute, segment).
pub struct MoveBuckets {
    writer: String,
    buckets: BTreeMap<(u64, String), (u64, u64)>,
}

impl Pending for MoveBuckets {
    fn merge(&mut self, newer: Self) {
        self.buckets.extend(newer.buckets);
    }

    fn write(&self, redis: &mut Retrying, group: &str) -> Result<(), String> {
        let buckets: Vec<Bucket> = self
            .buckets
            .iter()
            .map(|((minute, segment), (entered, left))| Bucket {
                minute: *minute,
                segment: segment.clone(),
                entered: *entered,
                left: *left,
            })
            .collect();
        try_write(redis, group, &self.writer, &buckets)
    }

    fn what(&self) -> String {
        format!("{} minutes of segment moves", self.buckets.len())
    }
}

/// One worker's moves (see the module contract).
pub struct MoveReporter {
    writer: String,
    buckets: BTreeMap<(u64, String), (u64, u64)>,
    sender: SyncSender<MoveBuckets>,
}

impl MoveReporter {
    /// A reporter for the run `writer` (unique per worker and start) of deployment `group`.
    pub fn new(url: &str, group: &str, writer: String) -> Result<MoveReporter, String> {
        Ok(MoveReporter {
            writer,
            buckets: BTreeMap::new(),
            sender: spawn("segment-moves", url, group)?,
        })
    }

    /// Counts `changes`, written at `now_ms`, and sends the buckets they touched.
    pub fn record(&mut self, changes: &[ChangeKey], now_ms: u64) {
        if changes.is_empty() {
            return;
        }
        let minute = now_ms / MINUTE_MS;
        let mut touched = BTreeMap::new();
        for (_, segment, _, entered) in changes {
            let key = (minute, segment.clone());
            let counts = self.buckets.entry(key.clone()).or_default();
            if *entered {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
            touched.insert(key, *counts);
        }
        self.buckets.retain(|(m, _), _| m + HOUR_MINUTES > minute);
        let _ = self.sender.send(MoveBuckets {
            writer: self.writer.clone(),
            buckets: touched,
        });
    }
}
