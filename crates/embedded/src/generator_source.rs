//! The built-in traffic generator as an [`EventSource`].
//!
//! Contract: one partition per worker, generating that worker's share of users at
//! `rate` events per second of wall-clock time (paced, never ahead of the clock), each
//! record decoded and validated exactly as input from a file or the collector would be.
//! The partition is caught up whenever nothing is due; at rate 0 the source owns no
//! partition at all. After `stop` is raised the source reports itself finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use segstream_dataflows::classifier::source::{EventSource, Poll, SourceRecord};
use segstream_dataflows::dataflow::Shared;
use segstream_rules::Schema;
use segstream_traffic::Traffic;

use crate::line_tap::{read_line, Tapped};

/// Generated traffic, paced by the wall clock.
pub struct GeneratorSource {
    traffic: Traffic,
    schema: Arc<Schema>,
    partition: u32,
    rate_per_second: f64,
    started: Instant,
    emitted: u64,
    future_tolerance_ms: u64,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    stop: Arc<AtomicBool>,
    tap: Option<Tapped>,
}

impl GeneratorSource {
    /// A source for `partition`, generating `rate_per_second` events per second.
    pub fn new(
        traffic: Traffic,
        schema: Arc<Schema>,
        partition: u32,
        rate_per_second: f64,
        future_tolerance_ms: u64,
        clock: Arc<dyn Fn() -> u64 + Send + Sync>,
        stop: Arc<AtomicBool>,
    ) -> GeneratorSource {
        GeneratorSource {
            traffic,
            schema,
            partition,
            rate_per_second,
            started: Instant::now(),
            emitted: 0,
            future_tolerance_ms,
            clock,
            stop,
            tap: None,
        }
    }

    /// The same source, showing every line it generates to `tap` first.
    pub fn with_tap(mut self, tap: Option<Tapped>) -> GeneratorSource {
        self.tap = tap;
        self
    }

    /// The source of worker `index` of `peers`: its share of the users and of `total_rate`.
    pub fn for_worker(
        traffic: Traffic,
        index: usize,
        peers: usize,
        total_rate: f64,
        shared: &Shared,
        stop: &Arc<AtomicBool>,
    ) -> GeneratorSource {
        GeneratorSource::new(
            traffic,
            Arc::clone(&shared.schema),
            index as u32,
            total_rate / peers.max(1) as f64,
            shared.config.future_tolerance_ms,
            Arc::clone(&shared.clock),
            Arc::clone(stop),
        )
    }

    fn due(&self) -> u64 {
        ((self.started.elapsed().as_secs_f64() * self.rate_per_second) as u64).saturating_sub(self.emitted)
    }
}

impl EventSource for GeneratorSource {
    fn partitions(&self) -> Vec<u32> {
        // A generator that generates nothing owns no partition, so that it never holds
        // the watermark back (the demo at `--rate 0` classifies posted events only).
        if self.rate_per_second > 0.0 {
            vec![self.partition]
        } else {
            Vec::new()
        }
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        if self.stop.load(Ordering::Relaxed) {
            return Poll::Finished;
        }
        let count = self.due().min(budget as u64);
        let now = (self.clock)();
        for _ in 0..count {
            let line = self.traffic.next_line(now);
            let record = read_line(self.tap.as_ref(), self.partition, &line, &self.schema, self.future_tolerance_ms);
            out.push((self.partition, record));
        }
        self.emitted += count;
        Poll::Open
    }

    fn caught_up(&self, _partition: u32) -> bool {
        self.due() == 0
    }
}
