//! Users entering and leaving segments per minute, in a distributed deployment, for
//! the console's hourly moves.
//!
//! Contract: each writer (a classifier worker's run, named so that a restart never
//! overwrites the counts of the run before it) keeps, per minute and segment, how many
//! users entered and left, and writes the absolute counts of the buckets that changed
//! into the hash `segstream:{group}:moves:{minute}` (fields `{segment}|{writer}|in` and
//! `…|out`), which expires after [`KEPT_MINUTES`] minutes. Writes are idempotent (a
//! retried write sets the same values), so the caller's writer thread may retry freely.
//! [`read_last_hour`] sums every writer's counts of the 60 minutes ending at a minute.

use std::collections::{BTreeMap, HashMap};

use crate::Retrying;

/// How long a minute's counts are kept.
pub const KEPT_MINUTES: u64 = 120;
/// The minutes that make an hour.
const HOUR_MINUTES: u64 = 60;

/// The hash of one minute of a deployment (its consumer group).
pub fn key(group: &str, minute: u64) -> String {
    format!("segstream:{group}:moves:{minute}")
}

/// One bucket: in `minute`, `entered` users entered `segment` and `left` left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Minutes since the epoch.
    pub minute: u64,
    /// The segment.
    pub segment: String,
    /// Users who entered.
    pub entered: u64,
    /// Users who left.
    pub left: u64,
}

/// Writes `writer`'s buckets once.
pub fn try_write(redis: &mut Retrying, group: &str, writer: &str, buckets: &[Bucket]) -> Result<(), String> {
    let mut pipeline = redis::pipe();
    for bucket in buckets {
        let key = key(group, bucket.minute);
        let fields = [
            (format!("{}|{writer}|in", bucket.segment), bucket.entered),
            (format!("{}|{writer}|out", bucket.segment), bucket.left),
        ];
        pipeline
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, (KEPT_MINUTES * 60) as i64)
            .ignore();
    }
    redis.query::<()>(&pipeline)
}

/// Per segment, `(entered, left)` over the hour ending with minute `now_minute`.
pub fn read_last_hour(redis: &mut Retrying, group: &str, now_minute: u64) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let mut pipeline = redis::pipe();
    for minute in now_minute.saturating_sub(HOUR_MINUTES - 1)..=now_minute {
        pipeline.hgetall(key(group, minute));
    }
    let minutes: Vec<HashMap<String, u64>> = redis.query(&pipeline)?;
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (field, count) in minutes.into_iter().flatten() {
        tally(&mut totals, &field, count);
    }
    Ok(totals)
}

/// Adds one field's count to its segment's total (a field of another shape is skipped).
fn tally(totals: &mut BTreeMap<String, (u64, u64)>, field: &str, count: u64) {
    let mut parts = field.rsplitn(3, '|');
    let (Some(direction), Some(_writer), Some(segment)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let total = totals.entry(segment.to_string()).or_default();
    match direction {
        "in" => total.0 += count,
        "out" => total.1 += count,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writers_counts_add_up_per_segment() {
        let mut totals = BTreeMap::new();
        let fields = [
            ("whales|0-1|in", 3),
            ("whales|1-7|in", 2),
            ("whales|0-1|out", 1),
            ("a|b|0-1|in", 4),
            ("junk", 9),
        ];
        for (field, count) in fields {
            tally(&mut totals, field, count);
        }
        assert_eq!(
            totals,
            BTreeMap::from([("a|b".to_string(), (4, 0)), ("whales".to_string(), (5, 1))])
        );
    }
}
