//! The collector's Prometheus metrics.
//!
//! Contract: atomics updated by request handlers, rendered by [`CollectorMetrics::render`]
//! in the text exposition format: requests by outcome, events accepted and rejected
//! (rejections by reason class), records per published request (a histogram), publish
//! latency (sum and count, so rates and means can be derived), and the spool: batches
//! spooled, fsyncs, records drained, segments and bytes waiting.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one collector.
#[derive(Debug, Default)]
pub struct CollectorMetrics {
    /// Requests answered 2xx.
    pub requests_ok: AtomicU64,
    /// Requests refused as a whole (4xx).
    pub requests_refused: AtomicU64,
    /// Requests refused by the rate limit (429, or 413 for a batch over the burst;
    /// also counted in `requests_refused`).
    pub requests_rate_limited: AtomicU64,
    /// Requests answered 503 (publishing failed).
    pub requests_unavailable: AtomicU64,
    /// Events acknowledged.
    pub events_accepted: AtomicU64,
    /// Events rejected as too large.
    pub rejected_too_large: AtomicU64,
    /// Events rejected as invalid.
    pub rejected_invalid: AtomicU64,
    /// Sum of publish latencies, microseconds.
    pub publish_micros_sum: AtomicU64,
    /// Publishes.
    pub publishes: AtomicU64,
    /// Events in published requests (for the mean batch size).
    pub published_events: AtomicU64,
    /// Batches written to the spool.
    pub spooled_batches: AtomicU64,
    /// `fsync`s of spool groups (each covers one or more batches).
    pub spool_syncs: AtomicU64,
    /// Records republished from the spool by the drainer.
    pub drained_records: AtomicU64,
    /// Spool segments waiting (a gauge, set by the drainer).
    pub spool_segments: AtomicU64,
    /// Spool bytes waiting (a gauge, set by the drainer).
    pub spool_bytes: AtomicU64,
    /// Published requests by their number of records: counts per bucket of
    /// [`BATCH_BUCKETS`] (not cumulative), the last for larger ones.
    pub batch_sizes: [AtomicU64; BATCH_BUCKETS.len() + 1],
}

/// Upper bounds of the batch-size histogram's buckets (records per published request).
pub const BATCH_BUCKETS: [u64; 7] = [1, 10, 50, 100, 250, 500, 1_000];

impl CollectorMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one published request of `records` records in the batch-size histogram.
    pub fn observe_batch(&self, records: u64) {
        let bucket = BATCH_BUCKETS.iter().position(|b| records <= *b).unwrap_or(BATCH_BUCKETS.len());
        Self::add(&self.batch_sizes[bucket], 1);
    }

    /// The metrics as Prometheus text.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            "segstream_collector_requests_total",
            "counter",
            "Requests by outcome.",
            &[
                ("{outcome=\"ok\"}", get(&self.requests_ok).to_string()),
                ("{outcome=\"refused\"}", get(&self.requests_refused).to_string()),
                ("{outcome=\"rate_limited\"}", get(&self.requests_rate_limited).to_string()),
                ("{outcome=\"unavailable\"}", get(&self.requests_unavailable).to_string()),
            ],
        );
        family(
            "segstream_collector_events_accepted_total",
            "counter",
            "Events acknowledged.",
            &[("", get(&self.events_accepted).to_string())],
        );
        family(
            "segstream_collector_events_rejected_total",
            "counter",
            "Events rejected, by reason.",
            &[
                ("{reason=\"too_large\"}", get(&self.rejected_too_large).to_string()),
                ("{reason=\"invalid\"}", get(&self.rejected_invalid).to_string()),
            ],
        );
        family(
            "segstream_collector_publish_seconds",
            "summary",
            "Time from handing a request's events to the publisher to their acknowledgement.",
            &[
                ("_count", get(&self.publishes).to_string()),
                ("_sum", (get(&self.publish_micros_sum) as f64 / 1e6).to_string()),
            ],
        );
        family(
            "segstream_collector_spooled_batches_total",
            "counter",
            "Batches written to the spool.",
            &[("", get(&self.spooled_batches).to_string())],
        );
        family(
            "segstream_collector_spool_syncs_total",
            "counter",
            "fsyncs of the spool, each covering a group of batches (group commit).",
            &[("", get(&self.spool_syncs).to_string())],
        );
        family(
            "segstream_collector_drained_records_total",
            "counter",
            "Records republished from the spool.",
            &[("", get(&self.drained_records).to_string())],
        );
        family(
            "segstream_collector_spool_segments",
            "gauge",
            "Spool segments waiting.",
            &[("", get(&self.spool_segments).to_string())],
        );
        family(
            "segstream_collector_spool_bytes",
            "gauge",
            "Spool bytes waiting.",
            &[("", get(&self.spool_bytes).to_string())],
        );
        family(
            "segstream_collector_published_events_total",
            "counter",
            "Events in published requests.",
            &[("", get(&self.published_events).to_string())],
        );
        let mut cumulative = 0;
        let mut buckets: Vec<(String, String)> = Vec::new();
        for (i, bound) in BATCH_BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_string()]).enumerate() {
            cumulative += get(&self.batch_sizes[i]);
            buckets.push((format!("_bucket{{le=\"{bound}\"}}"), cumulative.to_string()));
        }
        buckets.push(("_count".into(), cumulative.to_string()));
        buckets.push(("_sum".into(), get(&self.published_events).to_string()));
        let samples: Vec<(&str, String)> = buckets.iter().map(|(l, v)| (l.as_str(), v.clone())).collect();
        family(
            "segstream_collector_batch_records",
            "histogram",
            "Records per published request (accepted and failed events).",
            &samples,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_histogram_is_cumulative_with_count_and_sum() {
        let metrics = CollectorMetrics::default();
        for records in [1, 7, 100, 100, 5_000] {
            metrics.observe_batch(records);
            CollectorMetrics::add(&metrics.published_events, records);
        }
        let text = metrics.render();
        for line in [
            "segstream_collector_batch_records_bucket{le=\"1\"} 1",
            "segstream_collector_batch_records_bucket{le=\"10\"} 2",
            "segstream_collector_batch_records_bucket{le=\"100\"} 4",
            "segstream_collector_batch_records_bucket{le=\"1000\"} 4",
            "segstream_collector_batch_records_bucket{le=\"+Inf\"} 5",
            "segstream_collector_batch_records_count 5",
            "segstream_collector_batch_records_sum 5208",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
