//! What a partition has emitted at which tick: the offsets safe to commit, and where a
//! restart from a checkpoint resumes.
//!
//! Contract: an [`EmittedRuns`] remembers, for one partition, the offsets read and the
//! tick at which each record was emitted into the dataflow, compressed into runs of
//! equal ticks, with the partition's highest event time before each run. Given the
//! *durable frontier* `F` (every output before tick `F` is written),
//! [`EmittedRuns::committable`] is the first offset whose record was emitted at a tick
//! ≥ `F` — the offset to commit, so that a restart from it loses nothing — or the
//! position when every record read is covered; runs before `F` are released.
//! [`EmittedRuns::resume_point`] is where a restart from a checkpoint as of tick `T`
//! resumes: the first record emitted at a tick ≥ `T` (every earlier record is in the
//! checkpoint's state), with the partition's highest event time before it, from which
//! the late-event rule places every record after it exactly as it did (`placement.rs`).
//! It is final once the source's capability has passed `T` (every later record goes
//! out at `T` or after), and answers while the durable frontier is at most `T`.
//! Memory is one entry per run of equal ticks.
//!
//! ```
//! use segstream_dataflows::classifier::emitted::{EmittedRuns, ResumePoint};
//! let mut runs = EmittedRuns::default();
//! runs.record(7, 100, None);
//! runs.record(8, 200, Some(2_050));
//! runs.record(9, 100, Some(2_080)); // late: placed back at its partition's watermark
//! assert_eq!(runs.resume_point(200), Some(ResumePoint { offset: 8, seen_before: Some(2_050) }));
//! assert_eq!(runs.committable(200), Some(8));
//! ```

use std::collections::VecDeque;

/// Where a partition resumes after a checkpoint (see the module contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumePoint {
    /// The first offset to read again.
    pub offset: i64,
    /// The partition's highest event time before that offset (`None`: no event yet).
    pub seen_before: Option<u64>,
}

/// One partition's emitted ticks, in offset order (see the module contract).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmittedRuns {
    /// `(tick, first offset with that tick, highest event time before it)` runs.
    runs: VecDeque<(u64, i64, Option<u64>)>,
    /// The next offset to read, and the highest event time before it.
    position: Option<ResumePoint>,
}

impl EmittedRuns {
    /// Nothing read yet, from `start` (a partition's first offset, or its resume point).
    pub fn starting_at(start: ResumePoint) -> EmittedRuns {
        EmittedRuns {
            runs: VecDeque::new(),
            position: Some(start),
        }
    }

    /// Records that the record at `offset` went out at `tick`, its partition having seen
    /// events up to `seen_before` before it; `seen_after` is the highest after it.
    pub fn record_with(&mut self, offset: i64, tick: u64, seen_before: Option<u64>, seen_after: Option<u64>) {
        if self.runs.back().is_none_or(|(last, ..)| *last != tick) {
            self.runs.push_back((tick, offset, seen_before));
        }
        self.position = Some(ResumePoint {
            offset: offset + 1,
            seen_before: seen_after,
        });
    }

    /// [`EmittedRuns::record_with`] for a record that is not an event (it leaves the
    /// highest event time as it was).
    pub fn record(&mut self, offset: i64, tick: u64, seen_before: Option<u64>) {
        self.record_with(offset, tick, seen_before, seen_before);
    }

    /// The offset safe to commit once everything before tick `durable` is written.
    pub fn committable(&mut self, durable: u64) -> Option<i64> {
        while self.runs.front().is_some_and(|(tick, ..)| *tick < durable) {
            self.runs.pop_front();
        }
        self.runs.front().map(|(_, offset, _)| *offset).or(self.position.map(|p| p.offset))
    }

    /// Where a restart from a checkpoint as of `as_of` resumes (see the module contract);
    /// `None` when nothing was read.
    pub fn resume_point(&self, as_of: u64) -> Option<ResumePoint> {
        let first_after = self.runs.iter().find(|(tick, ..)| *tick >= as_of);
        first_after
            .map(|&(_, offset, seen_before)| ResumePoint { offset, seen_before })
            .or(self.position)
    }

    /// Runs held (for memory accounting and tests).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commits_stop_at_the_first_record_not_yet_durable() {
        let mut runs = EmittedRuns::default();
        for (offset, tick) in [(10, 100), (11, 100), (12, 200), (13, 100), (14, 300)] {
            runs.record(offset, tick, None);
        }
        assert_eq!(runs.committable(100), Some(10), "nothing durable yet");
        assert_eq!(runs.committable(200), Some(12), "offset 12 (tick 200) is not durable");
        assert_eq!(runs.committable(301), Some(15), "all durable: the position");
        assert_eq!(runs.runs(), 0);
    }

    proptest! {
        /// Oracle: the committable offset is the smallest offset whose tick is ≥ the
        /// durable frontier, never beyond a record that is not durable; the resume
        /// point is the same offset with the highest event time of the records before it.
        #[test]
        fn committable_and_resume_points_match_a_scan(
            records in proptest::collection::vec((0u64..6, proptest::option::of(0u64..1_000)), 1..40),
            frontier in 0u64..8,
        ) {
            let mut runs = EmittedRuns::default();
            let mut seen: Option<u64> = None;
            let mut seen_before_each = Vec::new();
            for (offset, (tick, time)) in records.iter().enumerate() {
                seen_before_each.push(seen);
                let after = match time { Some(t) => Some(seen.map_or(*t, |s| s.max(*t))), None => seen };
                runs.record_with(offset as i64, *tick, seen, after);
                seen = after;
            }
            let first = records.iter().position(|(t, _)| *t >= frontier);
            let expected = ResumePoint {
                offset: first.unwrap_or(records.len()) as i64,
                seen_before: first.map_or(seen, |at| seen_before_each[at]),
            };
            prop_assert_eq!(runs.resume_point(frontier), Some(expected));
            prop_assert_eq!(runs.committable(frontier), Some(expected.offset));
        }
    }
}
