//! Which offsets of a partner's change log are safe to commit.
//!
//! Contract: the reader [`OffsetTracker::read`]s each record's position before handing
//! it on; a worker marks it [`OffsetTracker::done`] once it is delivered, dead-lettered
//! or superseded. [`OffsetTracker::committable`] gives, per partition, the offset to
//! commit: the smallest offset not yet done, or one past the last read when all are.
//! A restart from committed offsets therefore loses nothing; it may deliver again what
//! was in flight (with the same delivery ids).
//!
//! Offsets are read in increasing order per partition, so the pending ones are kept in a
//! queue in offset order with a done flag each: reading appends, finishing marks (a
//! binary search), and finished offsets leave from the front — no tree (a `BTreeSet`
//! here was 15 % of the activator's profile).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use crate::change::Position;

#[derive(Debug, Default)]
struct Partition {
    /// Read offsets in increasing order, with whether each is finished.
    queue: VecDeque<(i64, bool)>,
    /// How many of `queue` are not finished.
    pending: usize,
    next: i64,
}

impl Partition {
    fn read(&mut self, offset: i64) {
        match self.queue.back() {
            Some((last, _)) if *last >= offset => {
                // Out of order (not expected from a log): keep the queue sorted.
                if let Err(at) = self.queue.binary_search_by_key(&offset, |(o, _)| *o) {
                    self.queue.insert(at, (offset, false));
                    self.pending += 1;
                }
            }
            _ => {
                self.queue.push_back((offset, false));
                self.pending += 1;
            }
        }
        self.next = self.next.max(offset + 1);
    }

    fn done(&mut self, offset: i64) {
        if let Ok(at) = self.queue.binary_search_by_key(&offset, |(o, _)| *o) {
            if !self.queue[at].1 {
                self.queue[at].1 = true;
                self.pending -= 1;
            }
        }
        while self.queue.front().is_some_and(|(_, done)| *done) {
            self.queue.pop_front();
        }
    }
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
            p.entry(position.partition).or_default().read(position.offset);
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
                partition.done(position.offset);
            }
        });
    }

    /// The offset to commit per partition.
    pub fn committable(&self) -> Vec<(i32, i64)> {
        self.with(|p| {
            p.iter()
                .map(|(id, partition)| (*id, partition.queue.front().map_or(partition.next, |(o, _)| *o)))
                .collect()
        })
    }

    /// How many records are on their way.
    pub fn pending(&self) -> usize {
        self.with(|p| p.values().map(|partition| partition.pending).sum())
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
        tracker.read(at(2, 7));
        tracker.read(at(2, 5));
        tracker.done(at(2, 7));
        assert_eq!(tracker.committable()[2], (2, 5), "an out-of-order read is still waited for");
        tracker.done(at(2, 5));
        tracker.done(at(2, 5));
        assert_eq!(
            (tracker.committable()[2], tracker.pending()),
            ((2, 8), 0),
            "finishing twice counts once"
        );
    }
}
