//! `segstream classify`'s checkpoints: what a process restores on start, and the
//! threads that write its workers' parts and commit complete checkpoints.
//!
//! Contract:
//! - [`restored`] reads the newest complete, intact checkpoint of the deployment
//!   (`segstream-checkpoint`); [`restore_for`] gives one worker its [`Restore`]: the
//!   snapshots it needs (its own part when the worker count is the checkpoint's, every
//!   part otherwise — it keeps the key groups it owns; a part's deltas laid over its
//!   full one) and every partition's resume point.
//! - Global worker 0 asks for a checkpoint each time its inputs' tick has moved on by
//!   the interval ([`Requests`]): full the first time and every `full_every`-th,
//!   incremental otherwise. Each worker's classify operator then begins its
//!   snapshot, and [`save_closure`] takes the resume points of the worker's partitions
//!   and side-table partitions at once (before the durable frontier can pass the checkpoint's tick); once the
//!   operator hands over the snapshot, saved a slice at a time while it goes on, the
//!   part is queued for the process's part writer thread, which writes it off the
//!   workers' threads ([`PartWriter`]).
//! - Process 0 runs the committer ([`Committer`]): once the durable frontier has
//!   reached a requested tick — every change before it is written, so a restart from it
//!   emits nothing too few — and every part is written, it writes the manifest, then
//!   deletes all but the newest `keep` checkpoints.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segstream_checkpoint::{Checkpoint, CheckpointError, CheckpointStore, PartHeader};
use segstream_dataflows::classifier::emitted::ResumePoint;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::source::EventSource;
use segstream_dataflows::classifier::{EncodedSnapshot, EngineSnapshot, SnapshotKind};
use segstream_dataflows::dataflow::Restore;
use segstream_dataflows::operators::classify::{CheckpointStep, SnapshotTiming};
use segstream_kafka::side_inputs::SidePoints;
use segstream_time::wall_clock_ms;

/// The newest complete checkpoint at `location`, if any.
pub fn restored(location: &str) -> Result<Option<Checkpoint>, String> {
    CheckpointStore::open(location)
        .and_then(|store| store.latest())
        .map_err(|e| e.to_string())
}

/// What worker `index` of `peers` restores from `checkpoint`.
pub fn restore_for(checkpoint: &Checkpoint, index: usize, peers: usize) -> Result<Restore, String> {
    let manifest = &checkpoint.manifest;
    let needed: Vec<usize> = if manifest.workers == peers {
        vec![index]
    } else {
        (0..manifest.workers).collect()
    };
    let snapshots = needed
        .into_iter()
        .map(|worker| {
            let chain = checkpoint
                .chains
                .get(worker)
                .ok_or_else(|| format!("checkpoint {}: no part of worker {worker}", manifest.as_of))?;
            EngineSnapshot::from_chain(chain.iter().map(|state| state.as_slice()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Restore {
        as_of: manifest.as_of,
        snapshots,
        points: manifest.points.clone(),
    })
}

/// One worker's part, on its way to the writer.
pub struct PartJob {
    header: PartHeader,
    snapshot: EncodedSnapshot,
    /// How taking the snapshot held the worker.
    timing: SnapshotTiming,
}

/// The run a process's parts are of: a chain of deltas links only parts of one run.
pub fn this_run() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 48)
}

/// Where a worker's side-table partitions resume for a checkpoint as of a tick
/// ([`segstream_kafka::side_inputs::SideInputs::resume_points`]; none where the side inputs do not come from topics).
pub type SidePointsAt = Box<dyn FnMut(u64) -> SidePoints>;

/// The closure a worker's classify operator reports its checkpoints to: it takes the
/// resume points of the worker's partitions and side-table partitions when a snapshot
/// begins and queues the part (of `run`, [`this_run`]) once the snapshot is taken.
pub fn save_closure<S: EventSource>(
    (source, mut side_points_at): (Rc<RefCell<S>>, SidePointsAt),
    (worker, workers, run): (usize, usize, u64),
    parts: Sender<PartJob>,
) -> Box<dyn FnMut(CheckpointStep)> {
    let mut begun: Option<(u64, BTreeMap<u32, ResumePoint>, SidePoints)> = None;
    Box::new(move |step: CheckpointStep| match step {
        CheckpointStep::Began(as_of) => {
            let source = source.borrow();
            let points = source
                .partitions()
                .into_iter()
                .filter_map(|p| source.resume_point(p, as_of).map(|point| (p, point)))
                .collect();
            begun = Some((as_of, points, side_points_at(as_of)));
        }
        CheckpointStep::Taken(snapshot, timing) => {
            let Some((_, points, side_points)) = begun.take().filter(|(as_of, ..)| *as_of == snapshot.as_of) else {
                tracing::error!(
                    worker,
                    as_of = snapshot.as_of,
                    "checkpoints: a snapshot that did not begin here; dropped"
                );
                return;
            };
            let header = PartHeader {
                as_of: snapshot.as_of,
                worker,
                workers,
                points,
                side_points,
                state_bytes: 0,
                state_crc32: 0,
                base: snapshot.base,
                run,
            };
            if parts.send(PartJob { header, snapshot, timing }).is_err() {
                tracing::error!(
                    worker,
                    "checkpoints: the part writer has stopped; this checkpoint will not complete"
                );
            }
        }
    })
}

/// The process's part writer thread (see the module contract).
pub struct PartWriter;

impl PartWriter {
    /// Starts the thread writing parts to `location`; the sender to queue them.
    pub fn start(location: String) -> Result<Sender<PartJob>, String> {
        let store = CheckpointStore::open(&location).map_err(|e| e.to_string())?;
        let (sender, receiver) = std::sync::mpsc::channel::<PartJob>();
        std::thread::Builder::new()
            .name("checkpoint-parts".into())
            .spawn(move || {
                for job in receiver {
                    let started = Instant::now();
                    let users = job.snapshot.users;
                    let written = store.write_part(job.header, job.snapshot.chunks);
                    let ms = |d: Duration| d.as_secs_f64() * 1e3;
                    match written {
                        Ok(header) => tracing::info!(
                            as_of = header.as_of,
                            worker = header.worker,
                            delta_on = header.base,
                            users,
                            bytes = header.state_bytes,
                            snapshot_slices = job.timing.slices,
                            longest_slice_ms = ms(job.timing.longest_slice),
                            snapshot_work_ms = ms(job.timing.working),
                            snapshot_elapsed_ms = ms(job.timing.elapsed),
                            write_ms = ms(started.elapsed()),
                            "checkpoints: part written"
                        ),
                        Err(e) => tracing::error!(error = %e, "checkpoints: writing a part failed; this checkpoint will not complete"),
                    }
                }
            })
            .map_err(|e| format!("starting the checkpoint writer: {e}"))?;
        Ok(sender)
    }
}

/// Worker 0's schedule of checkpoint requests.
pub struct Requests {
    interval_ms: u64,
    next_at: u64,
    /// Every this many requests, a full one; incremental in between.
    full_every: u32,
    requested: u32,
}

impl Requests {
    /// Requests every `interval_ms` of event time (none when 0), the first once the
    /// inputs' tick is past `restored_at`; the first, then every `full_every`-th, full
    /// (all when `full_every` is 0 or 1), the others incremental.
    pub fn new(interval_ms: u64, restored_at: u64, full_every: u32) -> Requests {
        Requests {
            interval_ms,
            next_at: restored_at.saturating_add(interval_ms).max(1),
            full_every: full_every.max(1),
            requested: 0,
        }
    }

    /// The kind of checkpoint due at the inputs' tick `now`, if one is; the next one is
    /// then an interval later.
    pub fn due(&mut self, now: u64) -> Option<SnapshotKind> {
        if self.interval_ms == 0 || now < self.next_at {
            return None;
        }
        self.next_at = now.saturating_add(self.interval_ms);
        let kind = match self.requested.is_multiple_of(self.full_every) {
            true => SnapshotKind::Full,
            false => SnapshotKind::Incremental,
        };
        self.requested = self.requested.wrapping_add(1);
        Some(kind)
    }
}

/// Process 0's committer thread (see the module contract).
pub struct Committer;

impl Committer {
    /// Starts committing the checkpoints whose ticks come on the returned sender, once
    /// `durable` (the durable frontier, ms) reaches them and all `workers` parts are written.
    pub fn start(location: String, workers: usize, keep: usize, metrics: Arc<ClassifierMetrics>) -> Result<Sender<u64>, String> {
        let store = CheckpointStore::open(&location).map_err(|e| e.to_string())?;
        let (sender, receiver) = std::sync::mpsc::channel::<u64>();
        std::thread::Builder::new()
            .name("checkpoint-commit".into())
            .spawn(move || commit_loop(&store, &receiver, workers, keep, &metrics))
            .map_err(|e| format!("starting the checkpoint committer: {e}"))?;
        Ok(sender)
    }
}

fn commit_loop(store: &CheckpointStore, requested: &Receiver<u64>, workers: usize, keep: usize, metrics: &ClassifierMetrics) {
    let mut pending: BTreeSet<u64> = BTreeSet::new();
    loop {
        match requested.recv_timeout(Duration::from_millis(100)) {
            Ok(at) => {
                pending.insert(at);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) if pending.is_empty() => return,
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(100)),
        }
        let frontier = metrics.durable_frontier_ms.load(Ordering::Acquire);
        // The newest checkpoint the durable frontier has reached whose parts are all
        // written (a worker busy with the previous snapshot skips a request, so a newer
        // one may never complete); older ones are then moot.
        let reached: Vec<u64> = pending.range(..=frontier).rev().copied().collect();
        for at in reached {
            let committed = store.commit(at, workers, wall_clock_ms());
            if let Err(e @ CheckpointError::Corrupt { .. }) = &committed {
                // A delta whose chain lost a link (a part's write failed): it never completes.
                tracing::warn!(as_of = at, error = %e, "checkpoints: this checkpoint cannot complete; dropped");
                pending.remove(&at);
                continue;
            }
            match committed {
                Ok(Some(manifest)) => {
                    tracing::info!(as_of = at, partitions = manifest.points.len(), "checkpoints: committed");
                    metrics.checkpoint_committed_ms.store(at, Ordering::Release);
                    pending.retain(|t| *t > at);
                    match store.retain(keep) {
                        Ok(deleted) if deleted > 0 => tracing::info!(deleted, "checkpoints: old ones deleted"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "checkpoints: deleting old ones failed"),
                    }
                    break;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(as_of = at, error = %e, "checkpoints: committing failed; retrying"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_an_interval_apart_and_none_when_off() {
        let mut requests = Requests::new(10_000, 0, 3);
        assert_eq!(requests.due(0), None, "the inputs have not started");
        assert_eq!(requests.due(1_700_000_000_000), Some(SnapshotKind::Full));
        assert_eq!(requests.due(1_700_000_009_900), None);
        assert_eq!(requests.due(1_700_000_010_000), Some(SnapshotKind::Incremental));
        let kinds: Vec<Option<SnapshotKind>> = (2..5).map(|n| requests.due(1_700_000_000_000 + n * 10_000)).collect();
        use SnapshotKind::{Full, Incremental};
        assert_eq!(kinds, vec![Some(Incremental), Some(Full), Some(Incremental)], "every third full");
        let mut restored = Requests::new(10_000, 50_000, 3);
        assert!(
            restored.due(55_000).is_none() && restored.due(60_000) == Some(Full),
            "an interval after the restored one, full"
        );
        let mut off = Requests::new(0, 0, 3);
        assert_eq!(off.due(u64::MAX / 2), None);
        let mut all_full = Requests::new(10_000, 0, 0);
        assert_eq!([all_full.due(10_000), all_full.due(20_000)], [Some(Full), Some(Full)]);
    }
}
