//! A writer thread that makes batches durable in order and says how far it got.
//!
//! Contract: [`WriterThread::spawn`] starts a thread that receives batches tagged with
//! a tick (in increasing tick order), coalesces whatever is queued, and calls `write`
//! on them until it succeeds — `write` retries or reports; the thread never drops a
//! batch. After a successful write, [`WriterThread::durable_through`] is the last tick
//! written. The thread ends when the sending side is dropped, after writing what was
//! queued.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

/// The sending side of a writer thread.
pub struct WriterThread<T> {
    sender: Sender<(u64, Vec<T>)>,
    /// Last durable tick plus one (0: none yet).
    durable: Arc<AtomicU64>,
}

impl<T: Send + 'static> WriterThread<T> {
    /// Starts the thread; `write` gets coalesced items and must return only once they are durable.
    pub fn spawn(name: &str, mut write: impl FnMut(&[T]) + Send + 'static) -> std::io::Result<WriterThread<T>> {
        let (sender, receiver) = channel::<(u64, Vec<T>)>();
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

    /// Queues the items of `tick` (possibly none, to move the durable tick on).
    pub fn send(&self, tick: u64, items: Vec<T>) -> Result<(), String> {
        self.sender
            .send((tick, items))
            .map_err(|_| "the writer thread has stopped".to_string())
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
}
