//! A thread that writes the newest state to Redis for the console, so a classifier
//! worker never waits on Redis.
//!
//! Contract: [`spawn`] starts a thread with a connection of its own. Values sent to it
//! are merged into what is pending ([`Pending::merge`]) and written
//! ([`Pending::write`]) until Redis takes them, trying again once a second; a failure
//! is reported once per outage. The queue is bounded (senders wait when it is full).
//! The thread ends when the sender is dropped.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use segstream_redis::Retrying;

/// Values queued before a sender waits: the thread drains and merges everything
/// queued between writes (each write takes at most Redis's I/O timeout), so a sender
/// of a few values a second never waits, and a runaway one is held back.
const QUEUE_VALUES: usize = 256;

/// How long after a failed write the next one is tried.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// State for the console that only its newest value matters of.
pub trait Pending: Send + Sized + 'static {
    /// Folds a newer value into this one.
    fn merge(&mut self, newer: Self);
    /// Writes it once.
    fn write(&self, redis: &mut Retrying, group: &str) -> Result<(), String>;
    /// What it is, for the outage message.
    fn what(&self) -> String;
}

fn write_until_taken<T: Pending>(mut redis: Retrying, group: String, values: Receiver<T>) {
    let mut pending: Option<T> = None;
    let mut reported = false;
    loop {
        let next = match pending {
            Some(_) => values.recv_timeout(RETRY_AFTER),
            None => values.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let mut fold = |newer: T| match pending.as_mut() {
            Some(value) => value.merge(newer),
            None => pending = Some(newer),
        };
        match next {
            Ok(value) => fold(value),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(newer) = values.try_recv() {
            fold(newer);
        }
        let Some(value) = pending.as_ref() else { continue };
        match value.write(&mut redis, &group) {
            Ok(()) => (pending, reported) = (None, false),
            Err(e) if !reported => {
                tracing::warn!(error = %e, "redis: writing {} failed; trying again", value.what());
                reported = true;
            }
            Err(_) => {}
        }
    }
}

/// Starts the writer thread `name` for deployment `group` on Redis at `url`.
pub fn spawn<T: Pending>(name: &str, url: &str, group: &str) -> Result<SyncSender<T>, String> {
    let redis = Retrying::new(url)?;
    let (sender, values) = sync_channel(QUEUE_VALUES);
    let group = group.to_string();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || write_until_taken(redis, group, values))
        .map_err(|e| format!("starting the {name} writer: {e}"))?;
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::TrySendError;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use super::*;

    /// A count whose writes fail while `down`, or wait while `stuck` (having said so in
    /// `entered`); what was written goes to `written`.
    struct Count {
        n: u64,
        down: Arc<AtomicBool>,
        stuck: Arc<AtomicBool>,
        entered: Arc<AtomicBool>,
        written: Arc<Mutex<Vec<u64>>>,
    }

    impl Pending for Count {
        fn merge(&mut self, newer: Self) {
            self.n += newer.n;
        }

        fn write(&self, _redis: &mut Retrying, _group: &str) -> Result<(), String> {
            self.entered.store(true, Ordering::SeqCst);
            while self.stuck.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            if self.down.load(Ordering::SeqCst) {
                return Err("down".into());
            }
            self.written.lock().map_err(|e| e.to_string())?.push(self.n);
            Ok(())
        }

        fn what(&self) -> String {
            "a count".into()
        }
    }

    struct Harness {
        down: Arc<AtomicBool>,
        stuck: Arc<AtomicBool>,
        entered: Arc<AtomicBool>,
        written: Arc<Mutex<Vec<u64>>>,
        sender: SyncSender<Count>,
    }

    impl Harness {
        /// A writer for a Redis that is never reached (`write` above stands in for it).
        fn start(down: bool, stuck: bool) -> Harness {
            let (down, stuck) = (Arc::new(AtomicBool::new(down)), Arc::new(AtomicBool::new(stuck)));
            let written = Arc::new(Mutex::new(Vec::new()));
            let sender = spawn("test-writer", "redis://127.0.0.1:1/", "g").unwrap_or_else(|e| panic!("{e}"));
            Harness {
                down,
                stuck,
                entered: Arc::new(AtomicBool::new(false)),
                written,
                sender,
            }
        }

        fn count(&self, n: u64) -> Count {
            Count {
                n,
                down: Arc::clone(&self.down),
                stuck: Arc::clone(&self.stuck),
                entered: Arc::clone(&self.entered),
                written: Arc::clone(&self.written),
            }
        }

        fn written(&self) -> Vec<u64> {
            self.written.lock().map(|w| w.clone()).unwrap_or_default()
        }
    }

    #[test]
    fn a_writer_stuck_in_a_write_holds_exactly_the_bounded_queue() {
        let writer = Harness::start(false, true);
        // The first value is taken into the stuck write; then exactly QUEUE_VALUES wait.
        writer.sender.send(writer.count(1)).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !writer.entered.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the writer never took a value");
            std::thread::yield_now();
        }
        let mut sent = 1;
        loop {
            match writer.sender.try_send(writer.count(1)) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(_)) => break,
                Err(TrySendError::Disconnected(_)) => panic!("the writer ended"),
            }
        }
        assert_eq!(sent, QUEUE_VALUES + 1, "one in the write, the queue full behind it");
        writer.stuck.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while writer.written().iter().sum::<u64>() < sent as u64 {
            assert!(Instant::now() < deadline, "written: {:?}", writer.written());
            std::thread::yield_now();
        }
        assert_eq!(writer.written().iter().sum::<u64>(), sent as u64, "nothing lost or written twice");
    }

    #[test]
    fn values_sent_during_an_outage_are_merged_and_written_once_it_ends() {
        let writer = Harness::start(true, false);
        for _ in 0..10_000 {
            writer.sender.send(writer.count(1)).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(writer.written().is_empty(), "nothing is written while Redis is down");
        writer.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while writer.written().is_empty() {
            assert!(Instant::now() < deadline, "nothing written after the outage");
            std::thread::yield_now();
        }
        let written = writer.written();
        assert_eq!(written.iter().sum::<u64>(), 10_000, "{written:?}");
        assert!(written.len() <= 2, "merged, not written value by value: {written:?}");
    }
}
