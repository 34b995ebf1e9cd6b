//! The collector's Prometheus metrics.
//!
//! Contract: atomics updated by request handlers, rendered by [`CollectorMetrics::render`]
//! in the text exposition format: requests by outcome, events accepted and rejected
//! (rejections by reason class), events per request, publish latency (sum and count,
//! so rates and means can be derived), and the spool: batches spooled, records drained,
//! segments and bytes waiting.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one collector.
#[derive(Debug, Default)]
pub struct CollectorMetrics {
    /// Requests answered 2xx.
    pub requests_ok: AtomicU64,
    /// Requests refused as a whole (4xx).
    pub requests_refused: AtomicU64,
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
}

impl CollectorMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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
        out
    }
}
