//! The source contract: how the classifier reads partitioned event input.
//!
//! Contract: each worker builds its own [`EventSource`], which reads a fixed set of
//! partitions (a worker may own none). [`EventSource::poll`] returns up to a budget of
//! records, each tagged with its partition, and says whether more may come; a bounded
//! source returns [`Poll::Finished`] once it has delivered everything. A partition that
//! has delivered everything currently available is `caught_up` (Kafka: position at the
//! high watermark), which lets the watermark logic treat a silent partition as idle.
//! The in-memory [`VecSource`] here serves tests, files and the generator; the Kafka
//! source implements the same trait in the `segstream` crate.

use std::collections::VecDeque;

use segstream_model::event::Event;

/// One record read from a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceRecord {
    /// A decoded event.
    Event(Event),
    /// Input that could not be decoded, with the reason.
    Rejected(String),
}

/// Whether a source may deliver more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// More records may come.
    Open,
    /// Everything has been delivered.
    Finished,
}

/// A worker's view of partitioned input.
pub trait EventSource: 'static {
    /// The partitions this worker reads.
    fn partitions(&self) -> Vec<u32>;
    /// Appends up to `budget` records as `(partition, record)`.
    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll;
    /// Whether a partition has delivered everything currently available.
    fn caught_up(&self, partition: u32) -> bool;
    /// Whether partitions may be added later (a growing Kafka topic). Such a source
    /// keeps its capability even while it owns no partition, advancing it with the
    /// processing clock, so that it can emit the events of a partition it gains.
    fn may_gain_partitions(&self) -> bool {
        false
    }
    /// Told, for each record of the last poll in the order polled, the tick it went
    /// out at (a rejected or sidelined record: the worker's capability then), so a
    /// source that tracks what it has emitted, e.g. to commit offsets, knows when the
    /// record's effect is durable.
    fn on_emitted(&mut self, _partition: u32, _tick: u64) {}
    /// Told, just before [`EventSource::on_emitted`] for the same record, that an event
    /// is sidelined (too old to apply), so a source with a dead-letter destination can
    /// put it there rather than only count it.
    fn on_sidelined(&mut self, _partition: u32, _event: &Event) {}
}

/// Partitions held in memory; partition `p` belongs to worker `p % peers`.
#[derive(Clone, Debug, Default)]
pub struct VecSource {
    partitions: Vec<(u32, VecDeque<SourceRecord>)>,
    next: usize,
}

impl VecSource {
    /// The share of `all` (records by partition) that worker `index` of `peers` reads.
    pub fn for_worker(all: &[Vec<SourceRecord>], index: usize, peers: usize) -> VecSource {
        let partitions = all
            .iter()
            .enumerate()
            .filter(|(p, _)| p % peers.max(1) == index)
            .map(|(p, records)| (p as u32, records.iter().cloned().collect()))
            .collect();
        VecSource { partitions, next: 0 }
    }
}

impl EventSource for VecSource {
    fn partitions(&self) -> Vec<u32> {
        self.partitions.iter().map(|(p, _)| *p).collect()
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        let mut taken = 0;
        let mut empty_rounds = 0;
        while taken < budget && empty_rounds < self.partitions.len() {
            let at = self.next % self.partitions.len().max(1);
            self.next = self.next.wrapping_add(1);
            match self
                .partitions
                .get_mut(at)
                .and_then(|(p, queue)| queue.pop_front().map(|r| (*p, r)))
            {
                Some(item) => {
                    out.push(item);
                    taken += 1;
                    empty_rounds = 0;
                }
                None => empty_rounds += 1,
            }
        }
        if self.partitions.iter().all(|(_, q)| q.is_empty()) {
            Poll::Finished
        } else {
            Poll::Open
        }
    }

    fn caught_up(&self, partition: u32) -> bool {
        self.partitions
            .iter()
            .find(|(p, _)| *p == partition)
            .is_none_or(|(_, q)| q.is_empty())
    }
}
