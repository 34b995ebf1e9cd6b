//! Failover: the broker first, the spool when it cannot take a batch, and the drainer.
//!
//! Contract: [`Failover`] is a [`Publisher`]. While the primary (the broker) is healthy a
//! batch goes to it; if it fails (unreachable, slow past the publish timeout, queue
//! full) — or the primary is already known to be failing, so requests do not each wait
//! for the timeout — the batch is appended to the spool and acknowledged once fsynced.
//! Only when the spool refuses (full, disk error) does the publish fail, and the client
//! gets 503 with `Retry-After`. [`drain_once`] republishes the oldest spooled segment to
//! the primary and deletes it once every batch in it is acknowledged; [`drain`] does so
//! forever, backing off while the primary fails. A crash between republishing and
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
    for batch in batches {
        republished += batch.len();
        primary.publish(batch).await?;
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
