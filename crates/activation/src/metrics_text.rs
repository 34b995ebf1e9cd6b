//! The activator's metrics as a Prometheus collector, per partner.
//!
//! Contract: [`PartnerMetricsCollector`] describes, labelled `partner="<id>"`: counters
//! `segstream_partner_changes_read_total`, `…_delivered_total`, `…_superseded_total`,
//! `…_retried_total`, `…_dead_lettered_total`; gauges `segstream_partner_pending`
//! (queue depth), `segstream_partner_consumer_lag`, `segstream_partner_breaker_open`,
//! `segstream_partner_disabled`; and the histogram
//! `segstream_partner_delivery_latency_seconds` (from reading a change to the
//! partner's 2xx). Values are read from the pipelines on each scrape.

use std::fmt;

use segstream_telemetry::exposition::{histogram, labelled, Collector, DescriptorEncoder, HistogramSample, Kind};

use crate::metrics::PartnerMetrics;
use crate::pipeline::Pipeline;

/// A series: name, kind, help, and its value for a partner.
type Series = (&'static str, Kind, &'static str, fn(&Pipeline) -> u64);

/// Histogram bounds, ms.
const BOUNDS_MS: [u64; 12] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 60_000];

/// The partners' metrics (see the module contract).
#[derive(Clone)]
pub struct PartnerMetricsCollector(pub Vec<Pipeline>);

impl fmt::Debug for PartnerMetricsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|p| &p.config().id)).finish()
    }
}

impl Collector for PartnerMetricsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let pipelines = &self.0;
        let series: [Series; 9] = [
            (
                "segstream_partner_changes_read_total",
                Kind::Counter,
                "Changes read from the change log.",
                |p| PartnerMetrics::get(&p.metrics().read),
            ),
            (
                "segstream_partner_delivered_total",
                Kind::Counter,
                "Changes the partner accepted.",
                |p| PartnerMetrics::get(&p.metrics().delivered),
            ),
            (
                "segstream_partner_superseded_total",
                Kind::Counter,
                "Changes replaced by a later one of the same user and segment in their batch.",
                |p| PartnerMetrics::get(&p.metrics().superseded),
            ),
            (
                "segstream_partner_retried_total",
                Kind::Counter,
                "Changes in failed attempts that were retried.",
                |p| PartnerMetrics::get(&p.metrics().retried),
            ),
            (
                "segstream_partner_dead_lettered_total",
                Kind::Counter,
                "Changes dead-lettered.",
                |p| PartnerMetrics::get(&p.metrics().dead_lettered),
            ),
            (
                "segstream_partner_pending",
                Kind::Gauge,
                "Changes read and not yet finished (queue depth).",
                |p| p.status().pending,
            ),
            (
                "segstream_partner_consumer_lag",
                Kind::Gauge,
                "Records between the partner's reader and the log's end.",
                |p| PartnerMetrics::get(&p.metrics().lag),
            ),
            (
                "segstream_partner_breaker_open",
                Kind::Gauge,
                "1 while the partner's circuit breaker is open.",
                |p| u64::from(p.status().breaker_open),
            ),
            (
                "segstream_partner_disabled",
                Kind::Gauge,
                "1 while the partner is disabled after failing too long.",
                |p| u64::from(p.status().disabled),
            ),
        ];
        for (name, kind, help, value) in series {
            let samples: Vec<(&str, f64)> = pipelines.iter().map(|p| (p.config().id.as_str(), value(p) as f64)).collect();
            labelled(&mut encoder, kind, name, help, "partner", &samples)?;
        }
        let bounds: Vec<f64> = BOUNDS_MS.iter().map(|ms| *ms as f64 / 1000.0).collect();
        let samples: Vec<HistogramSample> = pipelines
            .iter()
            .map(|p| {
                let (cumulative, count, sum_ms) = p.metrics().latency_buckets(&BOUNDS_MS);
                let mut counts: Vec<u64> = cumulative
                    .iter()
                    .scan(0u64, |below, &n| Some(n - std::mem::replace(below, n)))
                    .collect();
                counts.push(count - cumulative.last().copied().unwrap_or(0));
                HistogramSample {
                    labels: vec![("partner", p.config().id.as_str())],
                    bounds: &bounds,
                    counts,
                    sum: sum_ms as f64 / 1000.0,
                }
            })
            .collect();
        histogram(
            &mut encoder,
            "segstream_partner_delivery_latency_seconds",
            "From reading a change to the partner's acceptance.",
            &samples,
        )
    }
}
