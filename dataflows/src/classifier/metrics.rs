//! Counters the classifier shares with whoever hosts it (progress lines, Prometheus).
//!
//! Contract: plain atomics, updated by the operators of every worker and read at any
//! time from any thread; the dataflow never blocks on them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters of one classifier (all workers of a process).
#[derive(Debug, Default)]
pub struct ClassifierMetrics {
    /// Records read from sources.
    pub records_read: AtomicU64,
    /// Records rejected by decoding or validation.
    pub rejected: AtomicU64,
    /// Events older than the dedup horizon: sidelined, not applied.
    pub sidelined: AtomicU64,
    /// Events that arrived behind their partition's watermark and were applied at it.
    pub late: AtomicU64,
    /// Events dropped as duplicates.
    pub duplicates: AtomicU64,
    /// Events applied.
    pub applied: AtomicU64,
    /// Membership changes emitted.
    pub changes: AtomicU64,
    /// Rule updates that did not compile.
    pub rule_errors: AtomicU64,
    /// Users evicted for idleness (`user_ttl`).
    pub evictions: AtomicU64,
    /// The highest event time read (ms).
    pub max_event_time_ms: AtomicU64,
    /// Every change before this event time (ms) is durably written (set by hosts with
    /// durable outputs; 0 otherwise).
    pub durable_frontier_ms: AtomicU64,
    /// Records sent to the dead-letter topic (set by hosts that have one).
    pub dead_letters: AtomicU64,
    /// Dead letters that failed for good; each holds its partition's offset commits
    /// until a restart (set by hosts that have a dead-letter topic).
    pub dead_letters_failed: AtomicU64,
    /// Profile-store commands Redis refused for good (logged with the user's key, not
    /// retried; set by hosts with a store).
    pub redis_refused: AtomicU64,
    /// Engine snapshots taken for checkpoints, over this process's workers.
    pub checkpoint_snapshots: AtomicU64,
    /// Checkpoint requests a worker skipped, its previous snapshot still in progress.
    pub checkpoint_requests_skipped: AtomicU64,
    /// The longest slice of the latest snapshot taken (µs): the checkpoint pause.
    pub checkpoint_longest_slice_us: AtomicU64,
    /// The size of the latest snapshot taken (bytes, one worker's part).
    pub checkpoint_part_bytes: AtomicU64,
    /// The tick of the newest complete checkpoint (ms; set by hosts that commit them).
    pub checkpoint_committed_ms: AtomicU64,
    /// Per-worker gauges, by global worker index: only this process's workers (in a
    /// cluster the others' indexes are absent, not zeros that would pull the lowest
    /// watermark down to 0).
    pub workers: Mutex<BTreeMap<usize, WorkerGauges>>,
    /// The last rejection reason seen.
    pub last_rejection: Mutex<Option<String>>,
    /// The `sizes` collection as fed: `(segment, count)` → multiplicity.
    segment_sizes: Mutex<BTreeMap<(String, i64), i64>>,
}

/// Gauges of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerGauges {
    /// Its source watermark (ms).
    pub watermark_ms: u64,
    /// Users with state (live users; evicted ones are not counted).
    pub users: u64,
    /// Event ids remembered for dedup.
    pub dedup_entries: u64,
    /// Evicted users that keep their condition results and memberships.
    pub dormant_users: u64,
}

impl ClassifierMetrics {
    /// Updates one worker's gauges.
    pub fn set_worker(&self, index: usize, update: impl FnOnce(&mut WorkerGauges)) {
        if let Ok(mut workers) = self.workers.lock() {
            update(workers.entry(index).or_default());
        }
    }

    /// The gauges over all workers: the lowest watermark, the sums of the others.
    pub fn totals(&self) -> WorkerGauges {
        let workers: Vec<WorkerGauges> = self.workers.lock().map(|w| w.values().copied().collect()).unwrap_or_default();
        WorkerGauges {
            watermark_ms: workers.iter().map(|w| w.watermark_ms).min().unwrap_or(0),
            users: workers.iter().map(|w| w.users).sum(),
            dedup_entries: workers.iter().map(|w| w.dedup_entries).sum(),
            dormant_users: workers.iter().map(|w| w.dormant_users).sum(),
        }
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Applies updates of the dataflow's `sizes` collection, `((segment, count), diff)`
    /// (the host feeds them after each step, dry runs' shadow segments left out): the
    /// exact sizes, rebuilt with the state after a restart, and a removed segment's
    /// size gone with it.
    pub fn apply_sizes<'a>(&self, updates: impl IntoIterator<Item = (&'a str, isize, isize)>) {
        let mut sizes = self.segment_sizes.lock().unwrap_or_else(|e| e.into_inner());
        for (segment, count, diff) in updates {
            let key = (segment.to_string(), count as i64);
            let multiplicity = sizes.entry(key.clone()).or_insert(0);
            *multiplicity += diff as i64;
            if *multiplicity == 0 {
                sizes.remove(&key);
            }
        }
    }

    /// Members of each segment this process holds, by segment id.
    pub fn segment_members(&self) -> Vec<(String, i64)> {
        let sizes = self.segment_sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes
            .iter()
            .filter(|(_, m)| **m > 0)
            .map(|((segment, count), _)| (segment.clone(), *count))
            .collect()
    }

    /// Records the durable frontier (ms; `u64::MAX`, an empty frontier, is kept as a
    /// value that still reads as a time). Release: whoever sees it sees the writes
    /// before it.
    pub fn set_durable_frontier(&self, frontier: u64) {
        self.durable_frontier_ms.store(frontier.min(u64::MAX / 2), Ordering::Release);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_reports_only_its_own_workers_gauges() {
        // The second process of a cluster: its one worker is global worker 1.
        let metrics = ClassifierMetrics::default();
        metrics.set_worker(1, |g| {
            g.watermark_ms = 5_000;
            g.users = 7;
        });
        assert_eq!(metrics.totals().watermark_ms, 5_000, "no absent worker 0 at watermark 0");
        assert_eq!(metrics.totals().users, 7);
        metrics.set_worker(3, |g| g.watermark_ms = 4_000);
        assert_eq!(metrics.totals().watermark_ms, 4_000, "the lowest of its workers");
        assert_eq!(crate::live::worker_watermark(&metrics, 1), 5_000);
        assert_eq!(crate::live::worker_watermark(&metrics, 0), 0, "not one of its workers");
    }
}
