//! The activator: every configured partner's pipeline, each fed by a reader of its own.
//!
//! Contract: [`Activator::start`] starts, per partner, a [`Pipeline`] on the given tokio
//! runtime and a reader thread over the partner's own [`ChangeSource`] (its own Kafka
//! consumer in the distributed deployment, its own cursor on the in-process change log
//! in the embedded one). The reader hands each change to the pipeline — waiting when
//! the partner's queues are full, so a slow partner slows only its own reader — and
//! commits the partner's committable offsets every [`COMMIT_EVERY`]. [`Activator::stop`]
//! stops reading, lets the pipelines finish what they hold (up to a deadline) and
//! commits once more. [`Activator::status`] is each partner's [`PartnerStatus`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use segstream_telemetry::streak::FailureStreak;
use tokio::runtime::Handle;

use crate::change::Change;
use crate::config::PartnerConfig;
use crate::metrics::PartnerStatus;
use crate::pipeline::{Pipeline, Services};
use crate::tracker::OffsetTracker;

/// How often a reader commits its partner's offsets.
pub const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// Changes a reader takes from its source at once.
const POLL_MAX: usize = 4_096;

/// A partner's view of the change log.
pub trait ChangeSource: Send {
    /// The next changes (up to `max`), waiting at most `wait` when there are none.
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Change>, String>;
    /// Commits `(partition, next offset)` pairs: a restart resumes there.
    fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), String>;
    /// Where the source has read through, per partition (next offsets): records before
    /// them that were not handed out (folded into a backfill, undecodable) need no
    /// delivery. Empty while there is nothing to say.
    fn read_through(&self) -> Vec<(i32, i64)> {
        Vec::new()
    }
    /// Records between the reader and the log's end, where known.
    fn lag(&self) -> u64 {
        0
    }
    /// Refreshes what `lag` needs (called about every poll; may do I/O now and then).
    fn refresh(&mut self) {}
}

/// A fixed list of changes (replays and tests); commits go nowhere.
pub struct VecSource {
    changes: std::collections::VecDeque<Change>,
}

impl VecSource {
    /// A source of `changes`, in order.
    pub fn new(changes: Vec<Change>) -> VecSource {
        VecSource { changes: changes.into() }
    }
}

impl ChangeSource for VecSource {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Change>, String> {
        if self.changes.is_empty() {
            std::thread::sleep(wait.min(Duration::from_millis(10)));
        }
        let take = self.changes.len().min(max);
        Ok(self.changes.drain(..take).collect())
    }

    fn commit(&mut self, _offsets: &[(i32, i64)]) -> Result<(), String> {
        Ok(())
    }

    fn lag(&self) -> u64 {
        self.changes.len() as u64
    }
}

struct Reader {
    pipeline: Pipeline,
    tracker: Arc<OffsetTracker>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Flags {
    stop_reading: AtomicBool,
    finish: AtomicBool,
}

/// The running activator (see the module contract).
pub struct Activator {
    readers: Vec<Reader>,
    flags: Arc<Flags>,
}

impl Activator {
    /// Starts every partner; `source_for` opens each partner's change source.
    pub fn start(
        runtime: &Handle,
        partners: Vec<PartnerConfig>,
        services: &Services,
        mut source_for: impl FnMut(&PartnerConfig) -> Result<Box<dyn ChangeSource>, String>,
    ) -> Result<Activator, String> {
        let flags = Arc::new(Flags::default());
        let mut readers = Vec::new();
        for config in partners {
            let source = source_for(&config).map_err(|e| format!("partner {}: {e}", config.id))?;
            let tracker = Arc::new(OffsetTracker::default());
            let pipeline = {
                let _entered = runtime.enter();
                Pipeline::start(config.clone(), services.clone(), Arc::clone(&tracker))
            };
            let thread = std::thread::Builder::new()
                .name(format!("activate-{}", config.id))
                .spawn({
                    let (pipeline, tracker, flags, runtime) = (pipeline.clone(), Arc::clone(&tracker), Arc::clone(&flags), runtime.clone());
                    move || read(source, &pipeline, &tracker, &flags, &runtime)
                })
                .map_err(|e| format!("starting the reader of {}: {e}", config.id))?;
            readers.push(Reader {
                pipeline,
                tracker,
                thread: Some(thread),
            });
        }
        Ok(Activator { readers, flags })
    }

    /// Every partner's state.
    pub fn status(&self) -> Vec<PartnerStatus> {
        self.readers.iter().map(|r| r.pipeline.status()).collect()
    }

    /// The pipelines (for metrics).
    pub fn pipelines(&self) -> impl Iterator<Item = &Pipeline> {
        self.readers.iter().map(|r| &r.pipeline)
    }

    /// Changes read so far, over all partners.
    pub fn read(&self) -> u64 {
        self.readers
            .iter()
            .map(|r| crate::metrics::PartnerMetrics::get(&r.pipeline.metrics().read))
            .sum()
    }

    /// Changes still on their way, over all partners.
    pub fn pending(&self) -> usize {
        self.readers.iter().map(|r| r.tracker.pending()).sum()
    }

    /// Stops reading, waits up to `drain` for what is in flight, commits, and returns.
    pub fn stop(&mut self, drain: Duration) {
        self.flags.stop_reading.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + drain;
        while self.pending() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.flags.finish.store(true, Ordering::Relaxed);
        for reader in &mut self.readers {
            if let Some(thread) = reader.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Submits `change`, giving up once `finish` is raised: a partner whose queues are full
/// (down, or slower than its changes) must not hold the shutdown. Whether it was
/// submitted; one given up was never finished, so its offset is not committed and it is
/// read again at the next start.
async fn submit_unless_finished(pipeline: &Pipeline, change: Change, finish: &AtomicBool) -> bool {
    let mut submit = std::pin::pin!(pipeline.submit(change));
    loop {
        if tokio::time::timeout(Duration::from_millis(100), &mut submit).await.is_ok() {
            return true;
        }
        if finish.load(Ordering::Relaxed) {
            return false;
        }
    }
}

/// A partner's reader loop (see the module contract).
fn read(mut source: Box<dyn ChangeSource>, pipeline: &Pipeline, tracker: &OffsetTracker, flags: &Flags, runtime: &Handle) {
    let (stop, finish) = (&flags.stop_reading, &flags.finish);
    let mut committed_at = Instant::now();
    let mut last_commit: Vec<(i32, i64)> = Vec::new();
    let partner = pipeline.config().id.clone();
    let (committing, reading) = (FailureStreak::new(), FailureStreak::new());
    let mut commit = |source: &mut Box<dyn ChangeSource>, force: bool| {
        if !force && committed_at.elapsed() < COMMIT_EVERY {
            return;
        }
        committed_at = Instant::now();
        let offsets = tracker.committable();
        if offsets != last_commit {
            match source.commit(&offsets) {
                Ok(()) => {
                    if let Some(failures) = committing.succeeded() {
                        tracing::info!(partner = %partner, failures, "activation: committing offsets again");
                    }
                    last_commit = offsets;
                }
                Err(e) => {
                    if let Some(failures) = committing.failed() {
                        tracing::warn!(partner = %partner, failures, error = %e, "activation: committing offsets failed");
                    }
                    pipeline.metrics().error(&format!("committing offsets: {e}"));
                }
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        match source.poll(POLL_MAX, Duration::from_millis(100)) {
            Ok(changes) => runtime.block_on(async {
                if let Some(failures) = reading.succeeded() {
                    tracing::info!(partner = %pipeline.config().id, failures, "activation: reading changes again");
                }
                for change in changes {
                    if !submit_unless_finished(pipeline, change, finish).await {
                        break;
                    }
                }
            }),
            Err(e) => {
                if let Some(failures) = reading.failed() {
                    tracing::warn!(partner = %pipeline.config().id, failures, error = %e, "activation: reading changes failed");
                }
                pipeline.metrics().error(&format!("reading changes: {e}"));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        for (partition, next) in source.read_through() {
            tracker.skipped_to(partition, next);
        }
        source.refresh();
        pipeline.metrics().lag.store(source.lag(), Ordering::Relaxed);
        commit(&mut source, false);
    }
    // Reading stopped: keep committing what the pipeline finishes until told to end.
    while !finish.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        commit(&mut source, false);
    }
    commit(&mut source, true);
}
