//! Group commit: one thread writes the spool for every request, one `fsync` per group.
//!
//! Contract: [`GroupCommit::append`] hands a batch to the spool writer thread and
//! resolves once that batch is on disk (or with the spool's refusal). The thread takes
//! every batch waiting when it wakes — up to `max_group` — writes them as one group
//! with [`Spool::append_group`] and answers each. Under load many requests share one
//! `fsync` and no request blocks a runtime thread; alone, a request costs one `fsync`
//! as before. The queue to the thread is bounded ([`QUEUE_BATCHES`]): when the disk is
//! slower than the requests, `append` waits for room, so the backlog is held by the
//! clients, not in this process's memory. The thread ends when the last handle is
//! dropped.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

/// Batches waiting for the spool writer before `append` waits for room.
pub const QUEUE_BATCHES: usize = 1_024;

use super::metrics::CollectorMetrics;
use super::publish::Record;
use super::spool::Spool;

struct Pending {
    records: Vec<Record>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The handle to the spool writer thread (see the module contract).
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the writer thread for `spool`.
    pub fn start(spool: Arc<Spool>, max_group: usize, metrics: Arc<CollectorMetrics>) -> std::io::Result<GroupCommit> {
        let (commit, mut waiting) = GroupCommit::queue();
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || write_groups(&spool, &mut waiting, max_group.max(1), &metrics))?;
        Ok(commit)
    }

    /// A handle and the receiving end of its bounded queue, not yet served.
    fn queue() -> (GroupCommit, mpsc::Receiver<Pending>) {
        let (queue, waiting) = mpsc::channel::<Pending>(QUEUE_BATCHES);
        (GroupCommit { queue }, waiting)
    }

    /// Appends `records` to the spool; resolves once they are on disk.
    pub async fn append(&self, records: Vec<Record>) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { records, done })
            .await
            .map_err(|_| "the spool writer has stopped".to_string())?;
        answer.await.map_err(|_| "the spool writer has stopped".to_string())?
    }
}

fn write_groups(spool: &Spool, waiting: &mut mpsc::Receiver<Pending>, max_group: usize, metrics: &CollectorMetrics) {
    while let Some(first) = waiting.blocking_recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let batches: Vec<&[Record]> = group.iter().map(|p| p.records.as_slice()).collect();
        let outcomes = spool.append_group(&batches);
        CollectorMetrics::add(&metrics.spool_syncs, 1);
        for (pending, outcome) in group.into_iter().zip(outcomes) {
            if outcome.is_ok() {
                CollectorMetrics::add(&metrics.spooled_batches, 1);
            }
            // A request that went away no longer waits for its answer.
            let _ = pending.done.send(outcome.map_err(|e| e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::tests::{dir, record};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_syncs_and_all_land_in_order_of_arrival() {
        let dir = dir("group-commit");
        let (spool, _) = Spool::open(&dir, 1 << 30, 1 << 20).unwrap();
        let spool = Arc::new(spool);
        let metrics = Arc::new(CollectorMetrics::default());
        let writer = Arc::new(GroupCommit::start(Arc::clone(&spool), 64, Arc::clone(&metrics)).unwrap());
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move { writer.append(vec![record(n)]).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let (_, batches) = spool.oldest().unwrap().unwrap();
        let mut keys: Vec<String> = batches.into_iter().flatten().map(|r| r.key).collect();
        keys.sort();
        let mut expected: Vec<String> = (0..200).map(|n| format!("u{n}")).collect();
        expected.sort();
        assert_eq!(keys, expected);
        let syncs = metrics.spool_syncs.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(metrics.spooled_batches.load(std::sync::atomic::Ordering::Relaxed), 200);
        assert!((1..=200).contains(&syncs), "{syncs}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn appends_wait_for_room_when_the_writer_is_behind() {
        use std::future::Future;
        use std::task::{Context, Waker};
        // A writer that takes nothing (a disk that does not keep up): the queue holds
        // its bound and every further append waits to be queued, holding its records in
        // its own request rather than in an ever-longer queue.
        let (writer, waiting) = GroupCommit::queue();
        let mut context = Context::from_waker(Waker::noop());
        let mut appends: Vec<_> = (0..QUEUE_BATCHES + 10).map(|n| Box::pin(writer.append(vec![record(n)]))).collect();
        for append in &mut appends {
            assert!(append.as_mut().poll(&mut context).is_pending());
        }
        assert_eq!(waiting.len(), QUEUE_BATCHES, "queued: no more than the bound");
        drop(appends);
        assert_eq!(waiting.len(), QUEUE_BATCHES, "the queued batches stay queued");
    }

    #[tokio::test]
    async fn a_full_spool_refuses_through_the_writer() {
        let dir = dir("group-commit-full");
        let (spool, _) = Spool::open(&dir, 10, 1 << 20).unwrap();
        let writer = GroupCommit::start(Arc::new(spool), 64, Arc::new(CollectorMetrics::default())).unwrap();
        let refused = writer.append(vec![record(1)]).await.unwrap_err();
        assert!(refused.contains("full"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
