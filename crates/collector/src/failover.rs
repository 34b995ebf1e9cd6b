//! Failover: the broker first, the spool when it cannot take a batch, and the drainer.
//!
//! Contract: [`Failover`] is a [`Publisher`]. While the primary (the broker) is healthy a
//! batch goes to it; if it fails (unreachable, slow past the publish timeout, queue
//! full) — or the primary is already known to be failing, so requests do not each wait
//! for the timeout — the batch is appended to the spool and acknowledged once fsynced.
//! Only when the spool refuses (full, disk error) does the publish fail, and the client
//! gets 503 with `Retry-After`. [`drain_once`] republishes the oldest spooled segment to
//! the primary, up to [`DRAIN_IN_FLIGHT`] batches awaiting acknowledgement at once, and
//! deletes it once every batch in it is acknowledged; [`drain`] does so forever, backing
//! off while the primary fails. *Why batches in flight:* one batch at a time waited a
//! broker round trip per ~30 records; a soak's spool drained at about 700 records/s and
//! still held acknowledged events minutes after the load ended. A crash between republishing and
//! deleting repeats a segment: duplicates, never loss (the classifier deduplicates).
//! It is healthy (the collector's `/ready`) while the broker acknowledges or the spool
//! can take more; with the broker down and the spool full or failing it is not, so a
//! load balancer sends the traffic to another collector.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use super::group_commit::GroupCommit;
use super::metrics::CollectorMetrics;
use super::publish::{Publisher, Publishing, Record};
use super::spool::Spool;
use segstream_telemetry::streak::FailureStreak;

/// The broker with the spool behind it.
pub struct Failover {
    primary: Arc<dyn Publisher>,
    spool: Arc<GroupCommit>,
    spool_room: Arc<Spool>,
    /// Batches sent to the spool since the broker last acknowledged (for the log).
    spooling: Arc<FailureStreak>,
}

impl Failover {
    /// Fails over from `primary` to `spool`, written with group commit.
    pub fn new(primary: Arc<dyn Publisher>, spool: Arc<Spool>, metrics: Arc<CollectorMetrics>) -> std::io::Result<Failover> {
        let spool_room = Arc::clone(&spool);
        let spool = Arc::new(GroupCommit::start(spool, 256, metrics)?);
        Ok(Failover {
            primary,
            spool,
            spooling: Arc::default(),
            spool_room,
        })
    }
}

async fn to_spool(spool: Arc<GroupCommit>, records: Vec<Record>, why: String, spooling: &FailureStreak) -> Result<(), String> {
    if let Some(batches) = spooling.failed() {
        tracing::warn!(batches, error = %why, "collector: the broker does not acknowledge; batches go to the spool");
    }
    spool.append(records).await.map_err(|e| format!("broker: {why}; spool: {e}"))
}

impl Publisher for Failover {
    fn publish(&self, records: Vec<Record>) -> Publishing {
        let (spool, spooling) = (Arc::clone(&self.spool), Arc::clone(&self.spooling));
        if !self.primary.healthy() {
            return Box::pin(async move { to_spool(spool, records, "not acknowledging".into(), &spooling).await });
        }
        let attempt = self.primary.publish(records.clone());
        Box::pin(async move {
            match attempt.await {
                Ok(()) => {
                    if let Some(batches) = spooling.succeeded() {
                        tracing::info!(batches, "collector: the broker acknowledges again; the spool drains");
                    }
                    Ok(())
                }
                Err(why) => to_spool(spool, records, why, &spooling).await,
            }
        })
    }

    /// Events can be taken: the broker acknowledges, or the spool can take more.
    fn healthy(&self) -> bool {
        self.primary.healthy() || self.spool_room.can_take_more()
    }
}

/// Spooled batches republished at once, each awaiting its acknowledgement.
pub const DRAIN_IN_FLIGHT: usize = 32;

/// Waits for the next republished batch of `in_flight` to be acknowledged.
async fn acknowledged(in_flight: &mut tokio::task::JoinSet<Result<(), String>>) -> Result<(), String> {
    match in_flight.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(format!("republishing a spooled batch: {e}")),
        None => Ok(()),
    }
}

/// Republishes the oldest spooled segment; returns the records republished (0: empty).
pub async fn drain_once(primary: &Arc<dyn Publisher>, spool: &Arc<Spool>) -> Result<usize, String> {
    let reader = Arc::clone(spool);
    let Some((seq, batches)) = tokio::task::spawn_blocking(move || reader.oldest())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the spool: {e}"))?
    else {
        return Ok(0);
    };
    let mut republished = 0;
    // On an error the set is dropped, which stops the rest; the segment stays and is
    // republished whole later (duplicates, never loss).
    let mut in_flight = tokio::task::JoinSet::new();
    for batch in batches {
        if in_flight.len() >= DRAIN_IN_FLIGHT {
            acknowledged(&mut in_flight).await?;
        }
        republished += batch.len();
        in_flight.spawn(primary.publish(batch));
    }
    while !in_flight.is_empty() {
        acknowledged(&mut in_flight).await?;
    }
    let remover = Arc::clone(spool);
    tokio::task::spawn_blocking(move || remover.remove(seq))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("deleting spool segment {seq}: {e}"))?;
    Ok(republished)
}

/// Drains the spool into the primary, oldest first, for as long as the process runs,
/// keeping the spool gauges of `metrics` current.
pub async fn drain(primary: Arc<dyn Publisher>, spool: Arc<Spool>, metrics: Arc<CollectorMetrics>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let (segments, bytes) = spool.depth();
        metrics.spool_segments.store(segments as u64, Ordering::Relaxed);
        metrics.spool_bytes.store(bytes, Ordering::Relaxed);
        metrics.spool_capacity_bytes.store(spool.capacity(), Ordering::Relaxed);
        let drained = drain_once(&primary, &spool).await;
        if let Ok(n) = drained {
            CollectorMetrics::add(&metrics.drained_records, n as u64);
        }
        match drained {
            Ok(0) => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok(n) => {
                backoff = Duration::from_millis(200);
                tracing::info!(records = n, "collector: republished spooled records");
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "collector: draining the spool failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::MemoryLog;
    use crate::spool::tests::{dir, record};

    /// A primary whose publishes are acknowledged only when the test says so; it counts
    /// the most that waited at once.
    #[derive(Default)]
    struct Gated {
        open: tokio::sync::Notify,
        state: std::sync::Mutex<(usize, usize, usize)>,
    }

    impl Gated {
        /// (waiting now, the most at once, records acknowledged).
        fn counts(&self) -> (usize, usize, usize) {
            self.state.lock().map(|s| *s).unwrap_or_default()
        }
    }

    struct GatedPublisher(Arc<Gated>);

    impl Publisher for GatedPublisher {
        fn publish(&self, records: Vec<Record>) -> Publishing {
            let gated = Arc::clone(&self.0);
            Box::pin(async move {
                if let Ok(mut s) = gated.state.lock() {
                    s.0 += 1;
                    s.1 = s.1.max(s.0);
                }
                gated.open.notified().await;
                let mut s = gated.state.lock().map_err(|e| e.to_string())?;
                s.0 -= 1;
                s.2 += records.len();
                Ok(())
            })
        }

        fn healthy(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_segment_is_republished_with_a_bounded_number_of_batches_in_flight() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let (spool, _) = Spool::open(&dir("failover-drain"), 8 << 20, 4 << 20).unwrap_or_else(|e| panic!("{e}"));
        let spool = Arc::new(spool);
        for _ in 0..100 {
            spool
                .append(&(0..3).map(record).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let gated = Arc::new(Gated::default());
        let primary: Arc<dyn Publisher> = Arc::new(GatedPublisher(Arc::clone(&gated)));
        let draining = runtime.spawn({
            let spool = Arc::clone(&spool);
            async move { drain_once(&primary, &spool).await }
        });
        // The drain fills the bound and waits there; then the publishes are let
        // through one at a time until the segment is done.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while gated.counts().0 < DRAIN_IN_FLIGHT {
            assert!(
                std::time::Instant::now() < deadline,
                "the drain never had the bound in flight: {:?}",
                gated.counts()
            );
            std::thread::yield_now();
        }
        while !draining.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the drain did not finish: {:?}",
                gated.counts()
            );
            if gated.counts().0 > 0 {
                gated.open.notify_one();
            }
            std::thread::yield_now();
        }
        let republished = runtime
            .block_on(draining)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (waiting, most, acknowledged) = gated.counts();
        assert_eq!((republished, acknowledged, waiting), (300, 300, 0));
        assert_eq!(
            most, DRAIN_IN_FLIGHT,
            "batches were republished together, and no more than the bound"
        );
        assert_eq!(spool.depth().0, 0, "the segment is deleted once acknowledged");
    }

    #[test]
    fn healthy_while_the_broker_or_the_spool_can_take_events() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let broker = Arc::new(MemoryLog::default());
        let (spool, _) = Spool::open(&dir("failover-ready"), 8 << 10, 1 << 10).unwrap_or_else(|e| panic!("{e}"));
        let failover =
            Failover::new(broker.clone(), Arc::new(spool), Arc::new(CollectorMetrics::default())).unwrap_or_else(|e| panic!("{e}"));
        assert!(failover.healthy(), "the broker acknowledges");
        broker.set_failing(true);
        assert!(failover.healthy(), "the broker is down, the spool is empty");
        let mut spooled = 0;
        while runtime.block_on(failover.publish((0..10).map(record).collect())).is_ok() {
            spooled += 1;
            assert!(spooled < 1_000, "an 8 KiB spool never fills");
        }
        assert!(spooled > 0);
        assert!(!failover.healthy(), "the broker is down and the spool full");
        broker.set_failing(false);
        assert!(failover.healthy(), "the broker is back");
    }
}
