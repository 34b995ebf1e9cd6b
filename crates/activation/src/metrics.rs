//! What each partner's pipeline counts, for `/metrics`, `/status` and the demo's line.
//!
//! Contract: counters only grow; `pending` is read minus finished; delivery latency is
//! recorded from when the activator read a change to the partner's 2xx, in an HDR
//! histogram of 1 ms – 1 h with 3 significant digits. `last_error` is the latest reason
//! a request failed or an item was dead-lettered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One partner's counters.
#[derive(Debug)]
pub struct PartnerMetrics {
    /// Changes read from the log.
    pub read: AtomicU64,
    /// Changes the partner has.
    pub delivered: AtomicU64,
    /// Changes replaced by a later change of the same user and segment in their batch.
    pub superseded: AtomicU64,
    /// Failed attempts that were retried.
    pub retried: AtomicU64,
    /// Changes dead-lettered.
    pub dead_lettered: AtomicU64,
    /// The consumer's lag (records behind the log's end), where the source knows it.
    pub lag: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    last_error: Mutex<String>,
}

impl Default for PartnerMetrics {
    fn default() -> Self {
        PartnerMetrics {
            read: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            superseded: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            lag: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 3_600_000, 3).expect("constant, valid bounds")),
            last_error: Mutex::new(String::new()),
        }
    }
}

/// A partner's state as `segstream activate status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PartnerStatus {
    /// The partner.
    pub partner: String,
    /// Its kind.
    pub kind: String,
    /// Changes read from the log.
    pub read: u64,
    /// Changes delivered.
    pub delivered: u64,
    /// Changes on their way.
    pub pending: u64,
    /// Failed attempts retried.
    pub retried: u64,
    /// Changes dead-lettered.
    pub dead_lettered: u64,
    /// Changes superseded within their batch.
    pub superseded: u64,
    /// Records behind the log's end.
    pub lag: u64,
    /// Delivery latency p50 / p99 (ms).
    pub latency_p50_ms: u64,
    /// p99.
    pub latency_p99_ms: u64,
    /// The breaker is open.
    pub breaker_open: bool,
    /// Disabled after failing too long.
    pub disabled: bool,
    /// The latest error.
    pub last_error: String,
}

impl PartnerStatus {
    /// `DISABLED`, `breaker open` or `ok`.
    pub fn state(&self) -> &'static str {
        if self.disabled {
            "DISABLED"
        } else if self.breaker_open {
            "breaker open"
        } else {
            "ok"
        }
    }
}

impl PartnerMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records a delivery latency.
    pub fn record_latency(&self, ms: u64) {
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.record(ms.clamp(1, 3_600_000));
        }
    }

    /// Keeps `reason` as the latest error.
    pub fn error(&self, reason: &str) {
        if let Ok(mut e) = self.last_error.lock() {
            reason.clone_into(&mut e);
        }
    }

    /// `(p50, p99)` of delivery latency, ms.
    pub fn latency(&self) -> (u64, u64) {
        self.latency
            .lock()
            .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)))
            .unwrap_or_default()
    }

    /// Cumulative counts of delivery latencies at or under each bound (ms), the count
    /// of all, and their sum (ms): a Prometheus histogram's series.
    pub fn latency_buckets(&self, bounds_ms: &[u64]) -> (Vec<u64>, u64, u64) {
        let Ok(h) = self.latency.lock() else {
            return (vec![0; bounds_ms.len()], 0, 0);
        };
        let cumulative = bounds_ms
            .iter()
            .map(|&b| {
                h.iter_recorded()
                    .filter(|v| v.value_iterated_to() <= b)
                    .map(|v| v.count_at_value())
                    .sum()
            })
            .collect();
        let sum = h.iter_recorded().map(|v| v.value_iterated_to() * v.count_at_value()).sum();
        (cumulative, h.len(), sum)
    }

    /// The latest error.
    pub fn last_error(&self) -> String {
        self.last_error.lock().map(|e| e.clone()).unwrap_or_default()
    }
}
