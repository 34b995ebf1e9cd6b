//! The activator's metrics in the Prometheus text format, per partner.
//!
//! Contract: [`render`] writes, labelled `partner="<id>"`: counters
//! `segstream_partner_changes_read_total`, `…_delivered_total`, `…_superseded_total`,
//! `…_retried_total`, `…_dead_lettered_total`; gauges `segstream_partner_pending`
//! (queue depth), `segstream_partner_consumer_lag`, `segstream_partner_breaker_open`,
//! `segstream_partner_disabled`; and the histogram
//! `segstream_partner_delivery_latency_seconds` (from reading a change to the
//! partner's 2xx).

use std::fmt::Write as _;

use crate::metrics::PartnerMetrics;
use crate::pipeline::Pipeline;

/// A series: name, type, help, and its value for a partner.
type Series = (&'static str, &'static str, &'static str, fn(&Pipeline) -> u64);

/// Histogram bounds, ms.
const BOUNDS_MS: [u64; 12] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 60_000];

/// The metrics of `pipelines`.
pub fn render<'a>(pipelines: impl Iterator<Item = &'a Pipeline>) -> String {
    let pipelines: Vec<&Pipeline> = pipelines.collect();
    let mut out = String::new();
    let series: [Series; 9] = [
        (
            "segstream_partner_changes_read_total",
            "counter",
            "Changes read from the change log.",
            |p| PartnerMetrics::get(&p.metrics().read),
        ),
        (
            "segstream_partner_delivered_total",
            "counter",
            "Changes the partner accepted.",
            |p| PartnerMetrics::get(&p.metrics().delivered),
        ),
        (
            "segstream_partner_superseded_total",
            "counter",
            "Changes replaced by a later one of the same user and segment in their batch.",
            |p| PartnerMetrics::get(&p.metrics().superseded),
        ),
        (
            "segstream_partner_retried_total",
            "counter",
            "Changes in failed attempts that were retried.",
            |p| PartnerMetrics::get(&p.metrics().retried),
        ),
        ("segstream_partner_dead_lettered_total", "counter", "Changes dead-lettered.", |p| {
            PartnerMetrics::get(&p.metrics().dead_lettered)
        }),
        (
            "segstream_partner_pending",
            "gauge",
            "Changes read and not yet finished (queue depth).",
            |p| p.status().pending,
        ),
        (
            "segstream_partner_consumer_lag",
            "gauge",
            "Records between the partner's reader and the log's end.",
            |p| PartnerMetrics::get(&p.metrics().lag),
        ),
        (
            "segstream_partner_breaker_open",
            "gauge",
            "1 while the partner's circuit breaker is open.",
            |p| u64::from(p.status().breaker_open),
        ),
        (
            "segstream_partner_disabled",
            "gauge",
            "1 while the partner is disabled after failing too long.",
            |p| u64::from(p.status().disabled),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for p in &pipelines {
            let _ = writeln!(out, "{name}{{partner=\"{}\"}} {}", p.config().id, value(p));
        }
    }
    let name = "segstream_partner_delivery_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} From reading a change to the partner's acceptance.\n# TYPE {name} histogram"
    );
    for p in &pipelines {
        let id = &p.config().id;
        let (cumulative, count, sum_ms) = p.metrics().latency_buckets(&BOUNDS_MS);
        for (bound, n) in BOUNDS_MS.iter().zip(cumulative) {
            let _ = writeln!(out, "{name}_bucket{{partner=\"{id}\",le=\"{}\"}} {n}", *bound as f64 / 1000.0);
        }
        let _ = writeln!(out, "{name}_bucket{{partner=\"{id}\",le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{partner=\"{id}\"}} {}", sum_ms as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count{{partner=\"{id}\"}} {count}");
    }
    out
}
