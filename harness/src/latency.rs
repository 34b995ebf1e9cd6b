//! Latency recording: HDR histograms overall and per second of the run.
//!
//! Contract: [`LatencyRecorder::record`] takes a latency in milliseconds observed in
//! second `second` of the run (values are clamped to 1 ms … 1 hour, recorded with three
//! significant digits, so a reported percentile is within 0.1 % of the true one).
//! [`LatencyRecorder::overall`] and [`LatencyRecorder::per_second`] summarise them as
//! [`Percentiles`]; [`LatencyRecorder::cdf`] gives the distribution's quantile curve.
//!
//! ```
//! use segstream_harness::latency::LatencyRecorder;
//! let mut recorder = LatencyRecorder::default();
//! for ms in 1..=1000 {
//!     recorder.record(0, ms);
//! }
//! let all = recorder.overall();
//! assert_eq!((all.count, all.p50_ms.round(), all.max_ms.round()), (1000, 500.0, 1000.0));
//! ```

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Largest latency recorded (ms); larger values are recorded as this.
pub const MAX_LATENCY_MS: u64 = 3_600_000;

/// A latency distribution's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// 99.9th percentile (ms).
    pub p999_ms: f64,
    /// Largest (ms).
    pub max_ms: f64,
}

impl Percentiles {
    /// The summary of `histogram` (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| histogram.value_at_quantile(q) as f64;
        Percentiles {
            count: histogram.len(),
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: histogram.max() as f64,
        }
    }

    /// The value at percentile `p` (50, 90, 99 or 99.9; others: the max).
    pub fn at(&self, p: f64) -> f64 {
        match p {
            p if (p - 50.0).abs() < 1e-9 => self.p50_ms,
            p if (p - 90.0).abs() < 1e-9 => self.p90_ms,
            p if (p - 99.0).abs() < 1e-9 => self.p99_ms,
            p if (p - 99.9).abs() < 1e-9 => self.p999_ms,
            _ => self.max_ms,
        }
    }
}

/// Latencies overall and per second of the run.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    overall: Histogram<u64>,
    seconds: BTreeMap<u64, Histogram<u64>>,
}

fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_LATENCY_MS, 3) {
        Ok(h) => h,
        // The bounds are constants that hdrhistogram accepts.
        Err(e) => unreachable!("histogram bounds: {e}"),
    }
}

impl Default for LatencyRecorder {
    fn default() -> LatencyRecorder {
        LatencyRecorder {
            overall: histogram(),
            seconds: BTreeMap::new(),
        }
    }
}

impl LatencyRecorder {
    /// Records `latency_ms` observed in second `second` of the run.
    pub fn record(&mut self, second: u64, latency_ms: u64) {
        let value = latency_ms.clamp(1, MAX_LATENCY_MS);
        self.overall.saturating_record(value);
        self.seconds.entry(second).or_insert_with(histogram).saturating_record(value);
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.overall.add(&other.overall);
        for (second, h) in &other.seconds {
            let _ = self.seconds.entry(*second).or_insert_with(histogram).add(h);
        }
    }

    /// The whole run's summary.
    pub fn overall(&self) -> Percentiles {
        Percentiles::of(&self.overall)
    }

    /// Each second's summary, in order.
    pub fn per_second(&self) -> Vec<(u64, Percentiles)> {
        self.seconds.iter().map(|(s, h)| (*s, Percentiles::of(h))).collect()
    }

    /// The quantile curve: `(latency ms, share of values ≤ it)`, about 100 points.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        if self.overall.is_empty() {
            return Vec::new();
        }
        (1..=100)
            .map(|i| {
                let q = if i == 100 { 1.0 } else { 1.0 - 0.5f64.powf(f64::from(i) / 10.0) };
                (self.overall.value_at_quantile(q) as f64, q)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream_traffic::rng::Rng;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.01 + 1.0
    }

    #[test]
    fn a_uniform_distribution_has_its_known_percentiles() {
        let mut recorder = LatencyRecorder::default();
        for ms in 1..=100_000 {
            recorder.record(ms / 10_000, ms);
        }
        let all = recorder.overall();
        assert_eq!(all.count, 100_000);
        for (actual, expected) in [
            (all.p50_ms, 50_000.0),
            (all.p90_ms, 90_000.0),
            (all.p99_ms, 99_000.0),
            (all.p999_ms, 99_900.0),
            (all.max_ms, 100_000.0),
        ] {
            assert!(close(actual, expected), "{actual} vs {expected}");
        }
        let seconds = recorder.per_second();
        assert_eq!(seconds.len(), 11);
        assert!(close(seconds[1].1.p50_ms, 15_000.0), "{:?}", seconds[1]);
    }

    #[test]
    fn an_exponential_distribution_has_its_known_percentiles() {
        // Mean 1 s: the q-quantile is −ln(1 − q) seconds.
        let mut rng = Rng::new(7);
        let mut recorder = LatencyRecorder::default();
        for _ in 0..200_000 {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            recorder.record(0, (-(1.0 - u).ln() * 1_000.0).round() as u64);
        }
        let all = recorder.overall();
        for (actual, q) in [(all.p50_ms, 0.5), (all.p90_ms, 0.9), (all.p99_ms, 0.99)] {
            let expected = -(1.0f64 - q).ln() * 1_000.0;
            assert!((actual - expected).abs() < expected * 0.05, "q={q}: {actual} vs {expected}");
        }
        let cdf = recorder.cdf();
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
    }

    #[test]
    fn merging_and_clamping() {
        let (mut a, mut b) = (LatencyRecorder::default(), LatencyRecorder::default());
        a.record(0, 0);
        b.record(1, 10 * MAX_LATENCY_MS);
        a.merge(&b);
        let all = a.overall();
        assert_eq!((all.count, all.p50_ms), (2, 1.0));
        assert!(close(all.max_ms, MAX_LATENCY_MS as f64));
        assert_eq!(Percentiles::default(), LatencyRecorder::default().overall());
    }
}
