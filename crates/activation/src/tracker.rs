//! Which offsets of a partner's change log are safe to commit.
//!
//! Contract: the reader [`OffsetTracker::read`]s each record's position before handing
//! it on; a worker marks it [`OffsetTracker::done`] once it is delivered, dead-lettered
//! or superseded. [`OffsetTracker::committable`] gives, per partition, the offset to
//! commit: the smallest offset not yet done, or one past the last read when all are.
//! A restart from committed offsets therefore loses nothing; it may deliver again what
//! was in flight (with the same delivery ids).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::change::Position;

#[derive(Debug, Default)]
struct Partition {
    pending: BTreeSet<i64>,
    next: i64,
}

/// Pending offsets per partition (see the module contract).
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: Mutex<BTreeMap<i32, Partition>>,
}

impl OffsetTracker {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<i32, Partition>) -> T) -> T {
        f(&mut self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Records that `position` was read and is on its way.
    pub fn read(&self, position: Position) {
        self.with(|p| {
            let partition = p.entry(position.partition).or_default();
            partition.pending.insert(position.offset);
            partition.next = partition.next.max(position.offset + 1);
        });
    }

    /// Records that the log was read up to `next` on `partition` with nothing pending
    /// from it (records skipped because they were folded into a backfill, or not for
    /// this partner).
    pub fn skipped_to(&self, partition: i32, next: i64) {
        self.with(|p| {
            let partition = p.entry(partition).or_default();
            partition.next = partition.next.max(next);
        });
    }

    /// Records that `position` is finished.
    pub fn done(&self, position: Position) {
        self.with(|p| {
            if let Some(partition) = p.get_mut(&position.partition) {
                partition.pending.remove(&position.offset);
            }
        });
    }

    /// The offset to commit per partition.
    pub fn committable(&self) -> Vec<(i32, i64)> {
        self.with(|p| {
            p.iter()
                .map(|(id, partition)| (*id, partition.pending.first().copied().unwrap_or(partition.next)))
                .collect()
        })
    }

    /// How many records are on their way.
    pub fn pending(&self) -> usize {
        self.with(|p| p.values().map(|partition| partition.pending.len()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, offset: i64) -> Position {
        Position { partition, offset }
    }

    #[test]
    fn the_commit_stops_at_the_oldest_unfinished_record() {
        let tracker = OffsetTracker::default();
        for offset in 10..15 {
            tracker.read(at(0, offset));
        }
        tracker.read(at(1, 3));
        tracker.done(at(0, 11));
        tracker.done(at(0, 12));
        assert_eq!(tracker.committable(), vec![(0, 10), (1, 3)]);
        tracker.done(at(0, 10));
        tracker.done(at(1, 3));
        assert_eq!(tracker.committable(), vec![(0, 13), (1, 4)]);
        tracker.done(at(0, 13));
        tracker.done(at(0, 14));
        tracker.skipped_to(0, 20);
        assert_eq!(tracker.committable(), vec![(0, 20), (1, 4)]);
        assert_eq!(tracker.pending(), 0);
    }
}
