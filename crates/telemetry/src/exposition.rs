//! Metrics exposition: a component's metrics rendered by `prometheus-client` in the
//! Prometheus text format (version 0.0.4).
//!
//! Contract: a component keeps its own counters (atomics updated on its hot path, so
//! scraping never slows it) and implements [`Collector`], describing each series once per
//! scrape with the helpers here: [`counter`], [`gauge`], [`labelled`] and [`histogram`].
//! [`Exposition`] holds the collectors of a process (a demo has several) and renders
//! them; [`crate::metrics_http`] serves it. Names follow Prometheus conventions: a
//! counter's name ends in `_total` (the helpers take the full name; `prometheus-client`
//! adds the suffix itself), units are in names (`_seconds`, `_bytes`), timestamps are
//! `_timestamp_seconds`, latencies are histograms.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub use prometheus_client::collector::Collector;
pub use prometheus_client::encoding::DescriptorEncoder;

/// The content type of [`Exposition::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The collectors of one process.
#[derive(Debug, Default)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// An exposition of one collector.
    pub fn of(collector: impl Collector) -> Exposition {
        Exposition::default().with(collector)
    }

    /// Adds a collector.
    pub fn with(mut self, collector: impl Collector) -> Exposition {
        self.registry.register_collector(Box::new(collector));
        self
    }

    /// Every collector's series in the text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String fails only if a collector reports an error itself.
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "a metrics collector failed; the exposition is partial");
        }
        text
    }
}

/// The name `prometheus-client` wants for a counter: without its `_total`.
fn counter_base(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// A counter without labels; `name` ends in `_total`.
pub fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(counter_base(name), help, None, MetricType::Counter)?)
}

/// A gauge without labels.
pub fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// The kind of a labelled family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; the name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A family with one label: a sample per `(label value, value)`.
pub fn labelled(encoder: &mut DescriptorEncoder, kind: Kind, name: &str, help: &str, label: &str, samples: &[(&str, f64)]) -> fmt::Result {
    let (name, metric_type) = match kind {
        Kind::Counter => (counter_base(name), MetricType::Counter),
        Kind::Gauge => (name, MetricType::Gauge),
    };
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (label_value, value) in samples {
        let labels = [(label, *label_value)];
        let sample = family.encode_family(&labels)?;
        match kind {
            // Every counter here counts whole things.
            Kind::Counter => ConstCounter::new(*value as u64).encode(sample)?,
            Kind::Gauge => ConstGauge::new(*value).encode(sample)?,
        }
    }
    Ok(())
}

/// One histogram: per-bucket counts (not cumulative) by upper bound, the last bucket
/// open-ended, plus the sum of observations.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample<'a> {
    /// Labels, e.g. `[("partner", "acme")]`; empty for none.
    pub labels: Vec<(&'a str, &'a str)>,
    /// Upper bounds of the finite buckets, ascending.
    pub bounds: &'a [f64],
    /// Observations per bucket: one per bound, then the open-ended one.
    pub counts: Vec<u64>,
    /// The sum of the observations.
    pub sum: f64,
}

/// Counts one observation of `value` in a histogram kept as atomics: in the bucket of
/// `counts` whose upper bound in `bounds` (ascending) is the first at or above `value`,
/// or in the last, open-ended one past them all. `counts` has one entry more than
/// `bounds` (the layout [`HistogramSample`] reads).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// let bounds = [0.1, 1.0];
/// let counts: [AtomicU64; 3] = Default::default();
/// for value in [0.05, 0.1, 0.5, 7.0] {
///     segstream_telemetry::exposition::count_in_bucket(&counts, &bounds, value);
/// }
/// let seen: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
/// assert_eq!(seen, [2, 1, 1]);
/// ```
pub fn count_in_bucket(counts: &[AtomicU64], bounds: &[f64], value: f64) {
    debug_assert_eq!(counts.len(), bounds.len() + 1, "one count per bound and the open-ended one");
    let bucket = bounds.iter().position(|bound| value <= *bound).unwrap_or(bounds.len());
    if let Some(count) = counts.get(bucket) {
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// A histogram family with one sample per entry of `samples`.
pub fn histogram(encoder: &mut DescriptorEncoder, name: &str, help: &str, samples: &[HistogramSample]) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for sample in samples {
        let buckets: Vec<(f64, u64)> = sample
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(sample.counts.iter().copied())
            .collect();
        let count = sample.counts.iter().sum();
        if sample.labels.is_empty() {
            family.encode_histogram::<NoLabelSet>(sample.sum, count, &buckets, None)?;
        } else {
            let mut labelled = family.encode_family(&sample.labels)?;
            labelled.encode_histogram::<NoLabelSet>(sample.sum, count, &buckets, None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Example;

    impl Collector for Example {
        fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
            counter(&mut encoder, "demo_things_total", "Things.", 3)?;
            gauge(&mut encoder, "demo_level_bytes", "Level.", 1.5)?;
            labelled(
                &mut encoder,
                Kind::Counter,
                "demo_requests_total",
                "By outcome.",
                "outcome",
                &[("ok", 2.0)],
            )?;
            histogram(
                &mut encoder,
                "demo_latency_seconds",
                "Latency.",
                &[HistogramSample {
                    labels: vec![("partner", "p")],
                    bounds: &[0.1, 1.0],
                    counts: vec![1, 2, 3],
                    sum: 9.5,
                }],
            )
        }
    }

    #[test]
    fn series_render_in_the_classic_text_format() {
        let text = Exposition::of(Example).render();
        for expected in [
            "# TYPE demo_things_total counter\ndemo_things_total 3\n",
            "# TYPE demo_level_bytes gauge\ndemo_level_bytes 1.5\n",
            "demo_requests_total{outcome=\"ok\"} 2\n",
            "demo_latency_seconds_bucket{partner=\"p\",le=\"0.1\"} 1\n",
            "demo_latency_seconds_bucket{partner=\"p\",le=\"1\"} 3\n",
            "demo_latency_seconds_bucket{partner=\"p\",le=\"+Inf\"} 6\n",
            "demo_latency_seconds_sum{partner=\"p\"} 9.5\n",
            "demo_latency_seconds_count{partner=\"p\"} 6\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
    }
}
