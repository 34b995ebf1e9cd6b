//! The source contract: how the classifier reads partitioned event input.
//!
//! Contract: each worker builds its own [`EventSource`], which reads a fixed set of
//! partitions (a worker may own none). [`EventSource::poll`] returns up to a budget of
//! records, each tagged with its partition, and says whether more may come; a bounded
//! source returns [`Poll::Finished`] once it has delivered everything. A partition that
//! has delivered everything currently available is `caught_up` (Kafka: position at the
//! high watermark), which lets the watermark logic treat a silent partition as idle.
//! The in-memory [`VecSource`] here serves tests, files and the generator; the Kafka
//! source implements the same trait in the `segstream` crate. A source that can be
//! resumed from a checkpoint answers [`EventSource::resume_point`]; a host that must
//! ask it while the dataflow runs shares it as `Rc<RefCell<S>>`, which is a source too.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use super::emitted::{EmittedRuns, ResumePoint};
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
    /// out at (a rejected or sidelined record: the worker's capability then) and its
    /// partition's highest event time before and after it, so a source that tracks
    /// what it has emitted ([`EmittedRuns`]) knows when the record's effect is durable,
    /// to commit offsets, and where a restart from a checkpoint resumes.
    fn on_emitted(&mut self, _partition: u32, _emitted: Emitted) {}
    /// Where `partition` resumes after a restart from a checkpoint as of `as_of`
    /// ([`EmittedRuns::resume_point`]); `None` if this source cannot resume.
    fn resume_point(&self, _partition: u32, _as_of: u64) -> Option<ResumePoint> {
        None
    }
    /// Told, just before [`EventSource::on_emitted`] for the same record, that an event
    /// is sidelined (too old to apply), so a source with a dead-letter destination can
    /// put it there rather than only count it.
    fn on_sidelined(&mut self, _partition: u32, _event: &Event) {}
}

/// How a record went out (see [`EventSource::on_emitted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// The tick it went out at.
    pub tick: u64,
    /// Its partition's highest event time before it.
    pub seen_before: Option<u64>,
    /// And after it (higher only for an event later than every earlier one).
    pub seen_after: Option<u64>,
}

/// One partition held in memory: its records from an offset on, and what went out.
#[derive(Clone, Debug, Default)]
struct HeldPartition {
    partition: u32,
    records: VecDeque<SourceRecord>,
    /// The offset of the next record to be told emitted.
    next_emitted: i64,
    emitted: EmittedRuns,
}

/// Partitions held in memory; partition `p` belongs to worker `p % peers`. A record's
/// offset is its index in its partition.
#[derive(Clone, Debug, Default)]
pub struct VecSource {
    partitions: Vec<HeldPartition>,
    next: usize,
}

impl VecSource {
    /// The share of `all` (records by partition) that worker `index` of `peers` reads.
    pub fn for_worker(all: &[Vec<SourceRecord>], index: usize, peers: usize) -> VecSource {
        VecSource::resumed(all, index, peers, &BTreeMap::new())
    }

    /// The same share, each partition read from its offset in `from` (the start when
    /// absent): a restart from a checkpoint.
    pub fn resumed(all: &[Vec<SourceRecord>], index: usize, peers: usize, from: &BTreeMap<u32, ResumePoint>) -> VecSource {
        let partitions = all
            .iter()
            .enumerate()
            .filter(|(p, _)| p % peers.max(1) == index)
            .map(|(p, records)| {
                let start = from.get(&(p as u32)).copied().unwrap_or(ResumePoint {
                    offset: 0,
                    seen_before: None,
                });
                let offset = start.offset.max(0);
                HeldPartition {
                    partition: p as u32,
                    records: records.iter().skip(offset as usize).cloned().collect(),
                    next_emitted: offset,
                    emitted: EmittedRuns::starting_at(start),
                }
            })
            .collect();
        VecSource { partitions, next: 0 }
    }

    fn held(&self, partition: u32) -> Option<&HeldPartition> {
        self.partitions.iter().find(|h| h.partition == partition)
    }
}

impl EventSource for VecSource {
    fn partitions(&self) -> Vec<u32> {
        self.partitions.iter().map(|h| h.partition).collect()
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        let mut taken = 0;
        let mut empty_rounds = 0;
        while taken < budget && empty_rounds < self.partitions.len() {
            let at = self.next % self.partitions.len().max(1);
            self.next = self.next.wrapping_add(1);
            let taken_from = self
                .partitions
                .get_mut(at)
                .and_then(|held| held.records.pop_front().map(|record| (held.partition, record)));
            match taken_from {
                Some(item) => {
                    out.push(item);
                    taken += 1;
                    empty_rounds = 0;
                }
                None => empty_rounds += 1,
            }
        }
        if self.partitions.iter().all(|h| h.records.is_empty()) {
            Poll::Finished
        } else {
            Poll::Open
        }
    }

    fn caught_up(&self, partition: u32) -> bool {
        self.held(partition).is_none_or(|h| h.records.is_empty())
    }

    fn on_emitted(&mut self, partition: u32, emitted: Emitted) {
        if let Some(held) = self.partitions.iter_mut().find(|h| h.partition == partition) {
            held.emitted
                .record_with(held.next_emitted, emitted.tick, emitted.seen_before, emitted.seen_after);
            held.next_emitted += 1;
        }
    }

    fn resume_point(&self, partition: u32, as_of: u64) -> Option<ResumePoint> {
        self.held(partition).and_then(|h| h.emitted.resume_point(as_of))
    }
}

/// A source shared with its host, which can ask it where partitions resume while the
/// dataflow runs (worker-local: timely's operators live on their worker's thread).
impl<S: EventSource> EventSource for Rc<RefCell<S>> {
    fn partitions(&self) -> Vec<u32> {
        self.borrow().partitions()
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        self.borrow_mut().poll(budget, out)
    }

    fn caught_up(&self, partition: u32) -> bool {
        self.borrow().caught_up(partition)
    }

    fn may_gain_partitions(&self) -> bool {
        self.borrow().may_gain_partitions()
    }

    fn on_emitted(&mut self, partition: u32, emitted: Emitted) {
        self.borrow_mut().on_emitted(partition, emitted);
    }

    fn on_sidelined(&mut self, partition: u32, event: &Event) {
        self.borrow_mut().on_sidelined(partition, event);
    }

    fn resume_point(&self, partition: u32, as_of: u64) -> Option<ResumePoint> {
        self.borrow().resume_point(partition, as_of)
    }
}
