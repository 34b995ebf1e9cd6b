//! The embedded deployment's in-process event log: the collector writes it, the
//! classifier reads it.
//!
//! Contract: an [`InProcessLog`] holds `partitions` queues of event lines. As the
//! collector's [`Publisher`], it puts a record of the events topic in partition
//! `partition_of(key, partitions)` (FNV-1a) (one user's events stay in order) and acknowledges it once
//! queued; records of other topics (failed events) are counted and the latest 1,000
//! kept for inspection. When more than `capacity` lines wait, publishing fails and the
//! collector answers 503, so a classifier that falls behind pushes back on clients
//! instead of growing memory. A [`LogSource`] is one worker's [`EventSource`] over the
//! partitions it owns (`p % peers == index`), decoding each line with the classifier's
//! decoder; lines are released once read. Once stopped, a source still reads what its
//! partitions hold, and finishes when they are empty. The log lives in memory only: the embedded
//! deployment trades durability for needing no services (a restart starts empty).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use segstream_dataflows::classifier::source::{EventSource, Poll, SourceRecord};
use segstream_model::partitioning::partition_of;
use segstream_rules::Schema;

use segstream_collector::publish::{Publisher, Publishing, Record};

use crate::line_tap::{read_line, Tapped};

/// Failed events kept for inspection.
const FAILED_KEPT: usize = 1_000;

/// The in-process log (see the module contract).
pub struct InProcessLog {
    events_topic: String,
    partitions: Vec<Mutex<VecDeque<String>>>,
    waiting: AtomicU64,
    capacity: u64,
    failed: Mutex<VecDeque<Record>>,
    failed_total: AtomicU64,
}

impl InProcessLog {
    /// A log with `partitions` partitions holding at most `capacity` lines. A log with
    /// none takes no events (and its readers own no partition, so they never hold the
    /// watermark back).
    pub fn new(events_topic: &str, partitions: usize, capacity: u64) -> InProcessLog {
        InProcessLog {
            events_topic: events_topic.to_string(),
            partitions: (0..partitions).map(|_| Mutex::new(VecDeque::new())).collect(),
            waiting: AtomicU64::new(0),
            capacity,
            failed: Mutex::new(VecDeque::new()),
            failed_total: AtomicU64::new(0),
        }
    }

    /// Lines waiting to be read.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Failed events published so far, and the latest of them.
    pub fn failed(&self) -> (u64, Vec<Record>) {
        let latest = self.failed.lock().map(|f| f.iter().cloned().collect()).unwrap_or_default();
        (self.failed_total.load(Ordering::Relaxed), latest)
    }

    fn append(&self, records: Vec<Record>) -> Result<(), String> {
        let events = records.iter().filter(|r| r.topic == self.events_topic).count() as u64;
        if self.waiting() + events > self.capacity {
            return Err(format!(
                "the in-process log is full ({} events wait for the classifier)",
                self.waiting()
            ));
        }
        if events > 0 && self.partitions.is_empty() {
            return Err("the in-process log has no partitions".into());
        }
        for record in records {
            if record.topic == self.events_topic {
                let partition = partition_of(&record.key, self.partitions.len());
                let mut queue = self.partitions[partition].lock().map_err(|_| "the log is poisoned".to_string())?;
                queue.push_back(record.payload);
                self.waiting.fetch_add(1, Ordering::Relaxed);
            } else {
                self.failed_total.fetch_add(1, Ordering::Relaxed);
                let mut failed = self.failed.lock().map_err(|_| "the log is poisoned".to_string())?;
                if failed.len() == FAILED_KEPT {
                    failed.pop_front();
                }
                failed.push_back(record);
            }
        }
        Ok(())
    }
}

impl Publisher for InProcessLog {
    fn publish(&self, records: Vec<Record>) -> Publishing {
        let result = self.append(records);
        Box::pin(async move { result })
    }

    fn healthy(&self) -> bool {
        self.waiting() < self.capacity
    }
}

/// One worker's reader of the log (see the module contract).
pub struct LogSource {
    log: Arc<InProcessLog>,
    owned: Vec<u32>,
    schema: Arc<Schema>,
    future_tolerance_ms: u64,
    stop: Arc<AtomicBool>,
    next: usize,
    tap: Option<Tapped>,
    /// Lines taken from a partition's queue, read once its lock is released.
    taken: Vec<String>,
}

impl LogSource {
    /// The reader of worker `index` of `peers`.
    pub fn for_worker(
        log: Arc<InProcessLog>,
        index: usize,
        peers: usize,
        schema: Arc<Schema>,
        future_tolerance_ms: u64,
        stop: Arc<AtomicBool>,
    ) -> LogSource {
        let owned = (0..log.partitions.len() as u32)
            .filter(|p| *p as usize % peers.max(1) == index)
            .collect();
        LogSource {
            log,
            owned,
            schema,
            future_tolerance_ms,
            stop,
            next: 0,
            tap: None,
            taken: Vec::new(),
        }
    }

    /// The same reader, showing every line it reads to `tap` first (outside the
    /// partition's lock, so a tap that blocks never blocks the collector).
    pub fn with_tap(mut self, tap: Option<Tapped>) -> LogSource {
        self.tap = tap;
        self
    }
}

impl EventSource for LogSource {
    fn partitions(&self) -> Vec<u32> {
        self.owned.clone()
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        // Once stopped, what the collector acknowledged is still read (and tapped) to
        // the end; the source finishes when its partitions are empty.
        if self.stop.load(Ordering::Relaxed) && self.owned.iter().all(|p| self.caught_up(*p)) {
            return Poll::Finished;
        }
        let mut taken = 0;
        for _ in 0..self.owned.len() {
            let partition = self.owned[self.next % self.owned.len()];
            self.next = self.next.wrapping_add(1);
            if let Ok(mut queue) = self.log.partitions[partition as usize].lock() {
                let lines = queue.len().min(budget - taken);
                self.taken.extend(queue.drain(..lines));
                self.log.waiting.fetch_sub(lines as u64, Ordering::Relaxed);
                taken += lines;
            }
            for line in self.taken.drain(..) {
                let record = read_line(self.tap.as_ref(), partition, &line, &self.schema, self.future_tolerance_ms);
                out.push((partition, record));
            }
        }
        Poll::Open
    }

    fn caught_up(&self, partition: u32) -> bool {
        self.log
            .partitions
            .get(partition as usize)
            .is_none_or(|queue| queue.lock().map_or(true, |q| q.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, user: &str, id: u32) -> Record {
        Record {
            topic: topic.into(),
            key: user.into(),
            payload: format!(r#"{{"id":"e{id}","user":"{user}","type":"app_opened","time":{id}}}"#),
            timestamp_ms: 0,
        }
    }

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::from_toml("[events.app_opened]\n").unwrap())
    }

    #[test]
    fn each_user_stays_in_one_partition_in_order_and_workers_share_the_partitions() {
        let log = Arc::new(InProcessLog::new("events", 4, 1_000));
        let records: Vec<Record> = (0..40).map(|i| record("events", &format!("u{}", i % 5), i)).collect();
        futures_executor::block_on(log.publish(records)).unwrap();
        futures_executor::block_on(log.publish(vec![record("failed", "x", 99)])).unwrap();
        assert_eq!((log.waiting(), log.failed().0), (40, 1));
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen = Vec::new();
        for index in 0..2 {
            let mut source = LogSource::for_worker(Arc::clone(&log), index, 2, schema(), 0, Arc::clone(&stop));
            assert_eq!(source.partitions().len(), 2);
            while source.poll(3, &mut seen) == Poll::Open && !source.partitions().iter().all(|p| source.caught_up(*p)) {}
        }
        assert_eq!((seen.len(), log.waiting()), (40, 0));
        for user in 0..5 {
            let mine: Vec<(u32, u64)> = seen
                .iter()
                .filter_map(|(p, r)| match r {
                    SourceRecord::Event(e) if e.user == format!("u{user}") => Some((*p, e.client_time as u64)),
                    _ => None,
                })
                .collect();
            assert_eq!(mine.len(), 8);
            assert!(mine.windows(2).all(|w| w[0].0 == w[1].0 && w[0].1 < w[1].1), "{mine:?}");
        }
    }

    #[test]
    fn a_full_log_refuses_so_the_collector_answers_503() {
        let log = InProcessLog::new("events", 2, 10);
        let batch = |n: u32| (0..n).map(|i| record("events", "u", i)).collect::<Vec<_>>();
        futures_executor::block_on(log.publish(batch(10))).unwrap();
        assert!(!log.healthy());
        let refused = futures_executor::block_on(log.publish(batch(1))).unwrap_err();
        assert!(refused.contains("full"), "{refused}");
    }
}
