//! The lake writer's metrics as a Prometheus collector.
//!
//! Contract: [`LakeMetrics::observe_commit`] counts one commit of the raw table (its
//! records, how long it took, when it landed); on each scrape the collector describes
//! `segstream_lake_records_written_total`, `segstream_lake_commits_total`, the histogram
//! `segstream_lake_commit_duration_seconds` and the gauge
//! `segstream_lake_commit_timestamp_seconds` (the last commit's wall-clock time, so
//! `time() - …` is how long the lake has not moved).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use segstream_telemetry::exposition::{count_in_bucket, counter, gauge, histogram, Collector, DescriptorEncoder, HistogramSample};

/// Upper bounds of the commit-duration histogram's buckets, seconds.
const COMMIT_BUCKETS_SECONDS: [f64; 9] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Counters of one lake writer.
#[derive(Debug, Default)]
pub struct LakeMetrics {
    records: AtomicU64,
    commits: AtomicU64,
    commit_micros: AtomicU64,
    last_commit_ms: AtomicU64,
    durations: [AtomicU64; COMMIT_BUCKETS_SECONDS.len() + 1],
}

impl LakeMetrics {
    /// Counts a commit of `records` records that took `took` and landed at `now_ms`.
    pub fn observe_commit(&self, records: u64, took: Duration, now_ms: u64) {
        count_in_bucket(&self.durations, &COMMIT_BUCKETS_SECONDS, took.as_secs_f64());
        self.records.fetch_add(records, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.last_commit_ms.fetch_max(now_ms, Ordering::Relaxed);
    }
}

impl Collector for LakeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut encoder,
            "segstream_lake_records_written_total",
            "Records committed to the raw table.",
            get(&self.records),
        )?;
        counter(
            &mut encoder,
            "segstream_lake_commits_total",
            "Commits of the raw table.",
            get(&self.commits),
        )?;
        gauge(
            &mut encoder,
            "segstream_lake_commit_timestamp_seconds",
            "When the raw table's last commit landed (seconds since the epoch; 0 before the first).",
            get(&self.last_commit_ms) as f64 / 1000.0,
        )?;
        histogram(
            &mut encoder,
            "segstream_lake_commit_duration_seconds",
            "Time to write a commit's files and its log entry.",
            &[HistogramSample {
                labels: Vec::new(),
                bounds: &COMMIT_BUCKETS_SECONDS,
                counts: self.durations.iter().map(get).collect(),
                sum: get(&self.commit_micros) as f64 / 1e6,
            }],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream_telemetry::exposition::Exposition;
    use std::sync::Arc;

    #[test]
    fn commits_are_counted_with_their_records_time_and_landing() {
        let metrics = Arc::new(LakeMetrics::default());
        metrics.observe_commit(40, Duration::from_millis(30), 1_800_000_000_000);
        metrics.observe_commit(2, Duration::from_millis(5), 1_800_000_001_000);
        let text = Exposition::of(metrics).render();
        for expected in [
            "segstream_lake_records_written_total 42\n",
            "segstream_lake_commits_total 2\n",
            "segstream_lake_commit_timestamp_seconds 1800000001.0\n",
            "segstream_lake_commit_duration_seconds_bucket{le=\"0.01\"} 1\n",
            "segstream_lake_commit_duration_seconds_bucket{le=\"0.05\"} 2\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
    }
}
