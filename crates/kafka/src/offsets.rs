//! Which offsets are safe to commit, and where a restart resumes.
//!
//! Contract: a [`CommitTracker`] remembers, per partition, the offsets read and the tick
//! at which each record was emitted into the dataflow, compressed into runs of equal
//! ticks. Given the *durable frontier* `F` (every output before tick `F` is written),
//! [`CommitTracker::committable`] is the first offset whose record was emitted at a
//! tick ≥ `F` — the offset to commit, so that a restart from it loses nothing — or the
//! position when every record read is covered. Memory is one entry per run of equal
//! ticks, released as the frontier passes. [`resume_offset`] picks where a partition
//! restarts: the earlier of its committed offset and the offset at `F − rewind`.

use std::collections::VecDeque;

/// Emitted ticks of one partition's records, in offset order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitTracker {
    /// `(tick, first offset with that tick)` runs.
    runs: VecDeque<(u64, i64)>,
    /// The next offset to read.
    position: Option<i64>,
}

impl CommitTracker {
    /// Records that the record at `offset` was emitted at `tick`.
    pub fn record(&mut self, offset: i64, tick: u64) {
        if self.runs.back().is_none_or(|(last, _)| *last != tick) {
            self.runs.push_back((tick, offset));
        }
        self.position = Some(offset + 1);
    }

    /// The offset safe to commit once everything before tick `durable` is written.
    pub fn committable(&mut self, durable: u64) -> Option<i64> {
        while self.runs.front().is_some_and(|(tick, _)| *tick < durable) {
            self.runs.pop_front();
        }
        self.runs.front().map(|(_, offset)| *offset).or(self.position)
    }

    /// Runs held (for memory accounting and tests).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

/// Where a partition resumes: the earlier of the committed offset and the offset found
/// for the rewound time; the beginning when neither is known.
pub fn resume_offset(committed: Option<i64>, at_rewound_time: Option<i64>) -> Option<i64> {
    match (committed, at_rewound_time) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commits_stop_at_the_first_record_not_yet_durable() {
        let mut tracker = CommitTracker::default();
        for (offset, tick) in [(10, 100), (11, 100), (12, 200), (13, 100), (14, 300)] {
            tracker.record(offset, tick);
        }
        assert_eq!(tracker.committable(100), Some(10), "nothing durable yet");
        assert_eq!(tracker.committable(200), Some(12), "offset 12 (tick 200) is not durable");
        assert_eq!(tracker.committable(301), Some(15), "all durable: the position");
        assert_eq!(tracker.runs(), 0);
    }

    #[test]
    fn resume_takes_the_earlier_known_offset() {
        assert_eq!(resume_offset(Some(50), Some(40)), Some(40));
        assert_eq!(resume_offset(Some(30), Some(40)), Some(30));
        assert_eq!(resume_offset(None, Some(40)), Some(40));
        assert_eq!(resume_offset(None, None), None);
    }

    proptest! {
        /// Oracle: the committable offset is the smallest offset whose tick is ≥ the
        /// durable frontier, never beyond a record that is not durable.
        #[test]
        fn committable_matches_a_scan(ticks in proptest::collection::vec(0u64..6, 1..40), durable in 0u64..8) {
            let mut tracker = CommitTracker::default();
            for (offset, tick) in ticks.iter().enumerate() {
                tracker.record(offset as i64, *tick);
            }
            let first_pending = ticks.iter().position(|t| *t >= durable).unwrap_or(ticks.len()) as i64;
            prop_assert_eq!(tracker.committable(durable), Some(first_pending));
        }
    }
}
