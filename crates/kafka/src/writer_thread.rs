//! A writer thread that makes batches durable in order and says how far it got.
//!
//! Contract: [`WriterThread::spawn`] starts a thread that receives batches tagged with
//! a tick (in increasing tick order), coalesces whatever is queued, and calls `write`
//! on them until it succeeds — `write` retries or reports; the thread never drops a
//! batch. After a successful write, [`WriterThread::durable_through`] is the last tick
//! written. The thread ends when the sending side is dropped, after writing what was
//! queued. The queue is bounded ([`QUEUE_BATCHES`] batches): while the write is stuck
//! (Redis or the broker down), [`WriterThread::send`] blocks once the queue is full, so
//! an outage backs up into the consumer's lag, not into this process's memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

/// Batches (one per tick) queued before [`WriterThread::send`] blocks: at 100 ms ticks,
/// about 25 s of output.
pub const QUEUE_BATCHES: usize = 256;

/// The sending side of a writer thread.
pub struct WriterThread<T> {
    sender: SyncSender<(u64, Vec<T>)>,
    /// Last durable tick plus one (0: none yet).
    durable: Arc<AtomicU64>,
}

impl<T: Send + 'static> WriterThread<T> {
    /// Starts the thread; `write` gets coalesced items and must return only once they are durable.
    pub fn spawn(name: &str, write: impl FnMut(&[T]) + Send + 'static) -> std::io::Result<WriterThread<T>> {
        WriterThread::with_capacity(name, QUEUE_BATCHES, write)
    }

    /// As [`WriterThread::spawn`] with a queue of `batches` batches.
    pub fn with_capacity(name: &str, batches: usize, mut write: impl FnMut(&[T]) + Send + 'static) -> std::io::Result<WriterThread<T>> {
        let (sender, receiver) = sync_channel::<(u64, Vec<T>)>(batches);
        let durable = Arc::new(AtomicU64::new(0));
        let progress = Arc::clone(&durable);
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            let mut pending = Vec::new();
            while let Ok((mut last, first)) = receiver.recv() {
                pending.clear();
                pending.extend(first);
                while let Ok((tick, more)) = receiver.try_recv() {
                    last = tick;
                    pending.extend(more);
                }
                if !pending.is_empty() {
                    write(&pending);
                }
                progress.store(last + 1, Ordering::Release);
            }
        })?;
        Ok(WriterThread { sender, durable })
    }

    /// Queues the items of `tick` (possibly none, to move the durable tick on); blocks
    /// while the queue is full.
    pub fn send(&self, tick: u64, items: Vec<T>) -> Result<(), String> {
        self.sender
            .send((tick, items))
            .map_err(|_| "the writer thread has stopped".to_string())
    }

    /// Queues without waiting; an error when the queue is full.
    #[cfg(test)]
    fn try_send(&self, tick: u64, items: Vec<T>) -> Result<(), String> {
        self.sender.try_send((tick, items)).map_err(|e| e.to_string())
    }

    /// The last tick whose items (and all earlier ones) are durable.
    pub fn durable_through(&self) -> Option<u64> {
        self.durable.load(Ordering::Acquire).checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn batches_are_written_in_order_and_reported_durable() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&written);
        let writer = WriterThread::spawn("test-writer", move |items: &[u32]| sink.lock().unwrap().extend_from_slice(items)).unwrap();
        assert_eq!(writer.durable_through(), None);
        writer.send(5, vec![1, 2]).unwrap();
        writer.send(7, vec![]).unwrap();
        writer.send(9, vec![3]).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while writer.durable_through() != Some(9) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(writer.durable_through(), Some(9));
        assert_eq!(*written.lock().unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn a_stuck_write_fills_the_bounded_queue_and_then_refuses_more() {
        let (entered, writing) = std::sync::mpsc::channel::<()>();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let writer = WriterThread::with_capacity("stuck-writer", 2, move |_: &[u32]| {
            let _ = entered.send(());
            let _ = stuck.recv();
        })
        .unwrap();
        writer.send(0, vec![1]).unwrap();
        writing.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        // The write of tick 0 is stuck: two more batches fit, a third does not.
        assert!(writer.try_send(1, vec![2]).is_ok());
        assert!(writer.try_send(2, vec![3]).is_ok());
        assert!(writer.try_send(3, vec![4]).is_err(), "the queue is bounded: send would block here");
        release.send(()).unwrap();
        writing.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        release.send(()).unwrap();
        drop(writer);
    }
}
