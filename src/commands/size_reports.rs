//! Each classifier worker's segment sizes, reported to Redis for the console
//! (`segstream classify`).
//!
//! Contract: a worker feeds [`SizeReporter::apply`] every update of the `sizes`
//! collection it holds (a segment lives on one worker) and calls
//! [`SizeReporter::maybe_report`] after every step; at most once a second, the sizes
//! that changed since the last report go to a writer thread
//! ([`super::redis_writer`]) that writes them to `segstream_redis::segment_sizes`.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use segstream_embedded::size_board::SizeBoard;
use segstream_redis::segment_sizes::try_write;
use segstream_redis::Retrying;

use super::redis_writer::{spawn, Pending};

/// How often sizes are reported.
const EVERY: Duration = Duration::from_secs(1);

/// Sizes that changed (`None`: no size any more), newest per segment.
pub struct SizeChanges(BTreeMap<String, Option<i64>>);

impl Pending for SizeChanges {
    fn merge(&mut self, newer: Self) {
        self.0.extend(newer.0);
    }

    fn write(&self, redis: &mut Retrying, group: &str) -> Result<(), String> {
        let changes: Vec<(String, Option<i64>)> = self.0.iter().map(|(s, n)| (s.clone(), *n)).collect();
        try_write(redis, group, &changes)
    }

    fn what(&self) -> String {
        format!("{} segment sizes", self.0.len())
    }
}

/// One worker's sizes (see the module contract).
pub struct SizeReporter {
    board: SizeBoard,
    reported: HashMap<String, i64>,
    writer: SyncSender<SizeChanges>,
    last: Instant,
}

impl SizeReporter {
    /// A reporter for deployment `group` on Redis at `url`.
    pub fn new(url: &str, group: &str) -> Result<SizeReporter, String> {
        Ok(SizeReporter {
            board: SizeBoard::default(),
            reported: HashMap::new(),
            writer: spawn("segment-sizes", url, group)?,
            last: Instant::now(),
        })
    }

    /// One update of the `sizes` collection.
    pub fn apply(&mut self, segment: &str, count: isize, diff: isize) {
        self.board.apply(segment, count, diff);
    }

    /// Sends the sizes that changed, at most once a second.
    pub fn maybe_report(&mut self) {
        if self.last.elapsed() < EVERY {
            return;
        }
        self.last = Instant::now();
        let now: HashMap<String, i64> = self.board.top(usize::MAX).into_iter().map(|(s, n)| (s, n as i64)).collect();
        let mut changes: BTreeMap<String, Option<i64>> = now
            .iter()
            .filter(|(s, n)| self.reported.get(*s) != Some(n))
            .map(|(s, n)| (s.clone(), Some(*n)))
            .collect();
        changes.extend(self.reported.keys().filter(|s| !now.contains_key(*s)).map(|s| (s.clone(), None)));
        if !changes.is_empty() && self.writer.send(SizeChanges(changes)).is_ok() {
            self.reported = now;
        }
    }
}
