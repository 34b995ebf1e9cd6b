//! Two event sources read as one.
//!
//! Contract: [`Merged`] reads both sources in turns (each poll starts with the other
//! one, so neither starves the other) and renumbers the second's partitions by adding
//! an offset, so the watermark tracks every partition of both. It is finished once both
//! are. The embedded demo merges the traffic generator with the in-process log that
//! its collector writes to.
//!
//! ```
//! use segstream_dataflows::classifier::merged_source::Merged;
//! use segstream_dataflows::classifier::source::{EventSource, Poll, SourceRecord, VecSource};
//! let one = |reason: &str| VecSource::for_worker(&[vec![SourceRecord::Rejected(reason.into())]], 0, 1);
//! let mut both = Merged::new(one("a"), one("b"), 100);
//! assert_eq!(both.partitions(), vec![0, 100]);
//! let mut out = Vec::new();
//! assert_eq!(both.poll(10, &mut out), Poll::Finished);
//! assert_eq!(out.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![100, 0], "the second leads the first poll");
//! ```

use super::emitted::ResumePoint;
use super::source::{Emitted, EventSource, Poll, SourceRecord};

/// Two sources as one (see the module contract).
pub struct Merged<A, B> {
    first: A,
    second: B,
    offset: u32,
    first_done: bool,
    second_done: bool,
    second_leads: bool,
}

impl<A: EventSource, B: EventSource> Merged<A, B> {
    /// Reads `first` and `second`, whose partitions become `p + offset`.
    pub fn new(first: A, second: B, offset: u32) -> Merged<A, B> {
        Merged {
            first,
            second,
            offset,
            first_done: false,
            second_done: false,
            second_leads: false,
        }
    }

    fn poll_first(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) {
        if !self.first_done && budget > 0 {
            self.first_done = self.first.poll(budget, out) == Poll::Finished;
        }
    }

    fn poll_second(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) {
        if !self.second_done && budget > 0 {
            let from = out.len();
            self.second_done = self.second.poll(budget, out) == Poll::Finished;
            for (partition, _) in &mut out[from..] {
                *partition += self.offset;
            }
        }
    }
}

impl<A: EventSource, B: EventSource> EventSource for Merged<A, B> {
    fn partitions(&self) -> Vec<u32> {
        let mut all = self.first.partitions();
        all.extend(self.second.partitions().into_iter().map(|p| p + self.offset));
        all
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        let start = out.len();
        self.second_leads = !self.second_leads;
        if self.second_leads {
            self.poll_second(budget, out);
            self.poll_first(budget - (out.len() - start).min(budget), out);
        } else {
            self.poll_first(budget, out);
            self.poll_second(budget - (out.len() - start).min(budget), out);
        }
        if self.first_done && self.second_done {
            Poll::Finished
        } else {
            Poll::Open
        }
    }

    fn caught_up(&self, partition: u32) -> bool {
        match partition.checked_sub(self.offset) {
            Some(own) => self.second.caught_up(own),
            None => self.first.caught_up(partition),
        }
    }

    fn may_gain_partitions(&self) -> bool {
        self.first.may_gain_partitions() || self.second.may_gain_partitions()
    }

    fn on_emitted(&mut self, partition: u32, emitted: Emitted) {
        match partition.checked_sub(self.offset) {
            Some(own) => self.second.on_emitted(own, emitted),
            None => self.first.on_emitted(partition, emitted),
        }
    }

    fn resume_point(&self, partition: u32, as_of: u64) -> Option<ResumePoint> {
        match partition.checked_sub(self.offset) {
            Some(own) => self.second.resume_point(own, as_of),
            None => self.first.resume_point(partition, as_of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::source::VecSource;

    fn records(n: usize, tag: &str) -> Vec<SourceRecord> {
        (0..n).map(|i| SourceRecord::Rejected(format!("{tag}{i}"))).collect()
    }

    #[test]
    fn neither_source_starves_and_every_record_arrives_once() {
        let first = VecSource::for_worker(&[records(50, "a")], 0, 1);
        let second = VecSource::for_worker(&[records(50, "b")], 0, 1);
        let mut both = Merged::new(first, second, 1 << 20);
        let mut out = Vec::new();
        assert_eq!(both.poll(10, &mut out), Poll::Open);
        assert!(out.iter().all(|(p, _)| *p == 1 << 20), "the second leads first");
        assert_eq!(out.len(), 10);
        out.clear();
        both.poll(10, &mut out);
        assert!(out.iter().all(|(p, _)| *p == 0), "then the first");
        while both.poll(7, &mut out) == Poll::Open {}
        assert_eq!(out.len(), 90);
        assert!(both.caught_up(0) && both.caught_up(1 << 20));
    }
}
