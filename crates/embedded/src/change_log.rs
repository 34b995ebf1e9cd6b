//! The in-process change log: the embedded deployment's `segment-changes`, which each
//! activated partner reads with a cursor of its own.
//!
//! Contract: the classifier's workers [`ChangeLog::append`] membership changes (one
//! partition, offsets from 0); a [`LogCursor`] per partner reads from its committed
//! offset and commits where it got, like a Kafka consumer group. Entries every cursor
//! has committed past are dropped. The log is bounded by `capacity` entries *behind the
//! slowest cursor*: past it, appending drops the oldest entries and counts them in
//! [`ChangeLog::dropped`] (the embedded trade: memory instead of a broker's disk; a
//! partner down long enough under heavy load loses its oldest changes, and the count
//! says how many).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use segstream_activation::activator::ChangeSource;
use segstream_activation::change::{Change, Position};

#[derive(Debug, Default)]
struct Inner {
    /// Offset of `entries[0]`.
    base: i64,
    entries: VecDeque<(String, String, u64, bool)>,
    /// Each cursor's committed offset.
    cursors: Vec<i64>,
}

/// The log (see the module contract).
#[derive(Debug)]
pub struct ChangeLog {
    inner: Mutex<Inner>,
    grown: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

impl ChangeLog {
    /// An empty log keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> ChangeLog {
        ChangeLog {
            inner: Mutex::new(Inner::default()),
            grown: Condvar::new(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends changes `(user, segment, tick, entered)`.
    pub fn append(&self, changes: impl IntoIterator<Item = (String, String, u64, bool)>) {
        let mut inner = self.lock();
        inner.entries.extend(changes);
        let excess = inner.entries.len().saturating_sub(self.capacity);
        if excess > 0 {
            inner.entries.drain(..excess);
            inner.base += excess as i64;
            self.dropped.fetch_add(excess as u64, Ordering::Relaxed);
        }
        self.grown.notify_all();
    }

    /// Entries dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// One past the last offset.
    pub fn end(&self) -> i64 {
        let inner = self.lock();
        inner.base + inner.entries.len() as i64
    }

    /// A cursor reading from the start of what the log holds.
    pub fn cursor(self: &Arc<Self>) -> LogCursor {
        let mut inner = self.lock();
        let at = inner.base;
        inner.cursors.push(at);
        LogCursor {
            log: Arc::clone(self),
            index: inner.cursors.len() - 1,
            next: at,
        }
    }

    fn read(&self, from: i64, max: usize, wait: Duration) -> (Vec<Change>, i64) {
        let mut inner = self.lock();
        if inner.base + inner.entries.len() as i64 <= from {
            inner = match self.grown.wait_timeout(inner, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let start = from.max(inner.base);
        let skip = (start - inner.base) as usize;
        let now = segstream_time::wall_clock_ms();
        let changes: Vec<Change> = inner
            .entries
            .iter()
            .skip(skip)
            .take(max)
            .enumerate()
            .map(|(i, (user, segment, tick, entered))| Change {
                user: user.clone(),
                segment: segment.clone(),
                tick: *tick,
                entered: *entered,
                position: Position {
                    partition: 0,
                    offset: start + i as i64,
                },
                read_at_ms: now,
            })
            .collect();
        let next = start + changes.len() as i64;
        (changes, next)
    }

    fn commit(&self, index: usize, offset: i64) {
        let mut inner = self.lock();
        if let Some(cursor) = inner.cursors.get_mut(index) {
            *cursor = offset;
        }
        let oldest = inner.cursors.iter().copied().min().unwrap_or(inner.base);
        let drop = (oldest - inner.base).clamp(0, inner.entries.len() as i64) as usize;
        inner.entries.drain(..drop);
        inner.base += drop as i64;
    }
}

/// One partner's reader of the log.
#[derive(Debug)]
pub struct LogCursor {
    log: Arc<ChangeLog>,
    index: usize,
    next: i64,
}

impl ChangeSource for LogCursor {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Change>, String> {
        let (changes, next) = self.log.read(self.next, max, wait);
        self.next = next;
        Ok(changes)
    }

    fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), String> {
        if let Some((_, offset)) = offsets.iter().find(|(p, _)| *p == 0) {
            self.log.commit(self.index, *offset);
        }
        Ok(())
    }

    fn read_through(&self) -> Vec<(i32, i64)> {
        vec![(0, self.next)]
    }

    fn lag(&self) -> u64 {
        (self.log.end() - self.next).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: u64) -> (String, String, u64, bool) {
        (format!("u{n}"), "s".into(), n, true)
    }

    #[test]
    fn each_cursor_reads_everything_and_the_log_trims_behind_the_slowest() {
        let log = Arc::new(ChangeLog::new(100));
        let (mut fast, mut slow) = (log.cursor(), log.cursor());
        log.append((0..5).map(change));
        let read = fast.poll(10, Duration::ZERO).unwrap();
        assert_eq!(read.iter().map(|c| c.position.offset).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        fast.commit(&[(0, 5)]).unwrap();
        assert_eq!(slow.poll(2, Duration::ZERO).unwrap().len(), 2);
        assert_eq!(slow.lag(), 3);
        slow.commit(&[(0, 2)]).unwrap();
        assert_eq!(log.lock().base, 2, "trimmed behind the slowest cursor");
        assert_eq!(slow.poll(10, Duration::ZERO).unwrap()[0].user, "u2");
        assert!(fast.poll(10, Duration::from_millis(10)).unwrap().is_empty());
    }

    #[test]
    fn a_full_log_drops_its_oldest_entries_and_counts_them() {
        let log = Arc::new(ChangeLog::new(3));
        let mut cursor = log.cursor();
        log.append((0..5).map(change));
        assert_eq!(log.dropped(), 2);
        let read = cursor.poll(10, Duration::ZERO).unwrap();
        assert_eq!(read.first().map(|c| c.position.offset), Some(2));
    }
}
