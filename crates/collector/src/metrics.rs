//! The collector's Prometheus metrics.
//!
//! Contract: atomics updated by request handlers, rendered by [`CollectorMetrics::render`]
//! in the text exposition format: requests by outcome, events accepted and rejected
//! (rejections by reason class), records per published request and publish latency
//! (histograms), and the spool: batches spooled, fsyncs, records drained, segments and
//! bytes waiting and its capacity. Described to `prometheus-client` on each scrape
//! ([`Collector`]), so the request path only adds to atomics.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use segstream_telemetry::exposition::{
    count_in_bucket, counter, gauge, histogram, labelled, Collector, DescriptorEncoder, Exposition, HistogramSample, Kind,
};

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
    /// Publishes by latency: counts per bucket of [`PUBLISH_BUCKETS_SECONDS`] (not
    /// cumulative), the last for slower ones.
    pub publish_seconds: [AtomicU64; PUBLISH_BUCKETS_SECONDS.len() + 1],
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
    /// The spool's capacity in bytes (set by the drainer; 0 without a spool).
    pub spool_capacity_bytes: AtomicU64,
    /// Published requests by their number of records: counts per bucket of
    /// [`BATCH_BUCKETS`] (not cumulative), the last for larger ones.
    pub batch_sizes: [AtomicU64; BATCH_BUCKETS.len() + 1],
}

/// Upper bounds of the batch-size histogram's buckets (records per published request).
pub const BATCH_BUCKETS: [f64; 7] = [1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1_000.0];

/// Upper bounds of the publish-latency histogram's buckets, seconds.
pub const PUBLISH_BUCKETS_SECONDS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

impl CollectorMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts one published request of `records` records in the batch-size histogram.
    pub fn observe_batch(&self, records: u64) {
        count_in_bucket(&self.batch_sizes, &BATCH_BUCKETS, records as f64);
    }

    /// Counts one publish that took `elapsed` in the latency histogram.
    pub fn observe_publish(&self, elapsed: Duration) {
        count_in_bucket(&self.publish_seconds, &PUBLISH_BUCKETS_SECONDS, elapsed.as_secs_f64());
        Self::add(&self.publish_micros_sum, elapsed.as_micros() as u64);
    }

    /// An exposition of these metrics (what `/metrics` answers).
    pub fn exposition(self: &Arc<Self>) -> Exposition {
        Exposition::of(Arc::clone(self))
    }

    /// The metrics in the Prometheus text format.
    pub fn render(self: &Arc<Self>) -> String {
        self.exposition().render()
    }
}

fn get(counter: &AtomicU64) -> u64 {
    CollectorMetrics::get(counter)
}

fn counts(buckets: &[AtomicU64]) -> Vec<u64> {
    buckets.iter().map(get).collect()
}

impl Collector for CollectorMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let requests = [
            ("ok", get(&self.requests_ok) as f64),
            ("refused", get(&self.requests_refused) as f64),
            ("rate_limited", get(&self.requests_rate_limited) as f64),
            ("unavailable", get(&self.requests_unavailable) as f64),
        ];
        labelled(
            &mut encoder,
            Kind::Counter,
            "segstream_collector_requests_total",
            "Requests by outcome.",
            "outcome",
            &requests,
        )?;
        counter(
            &mut encoder,
            "segstream_collector_events_accepted_total",
            "Events acknowledged.",
            get(&self.events_accepted),
        )?;
        let rejected = [
            ("too_large", get(&self.rejected_too_large) as f64),
            ("invalid", get(&self.rejected_invalid) as f64),
        ];
        labelled(
            &mut encoder,
            Kind::Counter,
            "segstream_collector_events_rejected_total",
            "Events rejected, by reason.",
            "reason",
            &rejected,
        )?;
        let counters = [
            (
                "segstream_collector_spooled_batches_total",
                "Batches written to the spool.",
                &self.spooled_batches,
            ),
            (
                "segstream_collector_spool_syncs_total",
                "fsyncs of the spool, each covering a group of batches (group commit).",
                &self.spool_syncs,
            ),
            (
                "segstream_collector_drained_records_total",
                "Records republished from the spool.",
                &self.drained_records,
            ),
            (
                "segstream_collector_published_events_total",
                "Events in published requests.",
                &self.published_events,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, get(value))?;
        }
        let gauges = [
            (
                "segstream_collector_spool_segments",
                "Spool segments waiting.",
                &self.spool_segments,
            ),
            ("segstream_collector_spool_bytes", "Spool bytes waiting.", &self.spool_bytes),
            (
                "segstream_collector_spool_capacity_bytes",
                "The spool's capacity (0: no spool).",
                &self.spool_capacity_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            gauge(&mut encoder, name, help, get(value) as f64)?;
        }
        histogram(
            &mut encoder,
            "segstream_collector_batch_records",
            "Records per published request (accepted and failed events).",
            &[HistogramSample {
                labels: Vec::new(),
                bounds: &BATCH_BUCKETS,
                counts: counts(&self.batch_sizes),
                sum: get(&self.published_events) as f64,
            }],
        )?;
        histogram(
            &mut encoder,
            "segstream_collector_publish_duration_seconds",
            "Time from handing a request's events to the publisher to their acknowledgement.",
            &[HistogramSample {
                labels: Vec::new(),
                bounds: &PUBLISH_BUCKETS_SECONDS,
                counts: counts(&self.publish_seconds),
                sum: get(&self.publish_micros_sum) as f64 / 1e6,
            }],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_histogram_is_cumulative_with_count_and_sum() {
        let metrics = Arc::new(CollectorMetrics::default());
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
            "segstream_collector_batch_records_sum 5208.0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
