//! The classifier's metrics in the Prometheus text exposition format.
//!
//! Contract: [`render`] writes [`ClassifierMetrics`] in the text format (version
//! 0.0.4): counters with `_total`, gauges for the watermark, users and remembered event
//! ids. Pure formatting; serving it is the host's.

use std::fmt::Write as _;

use super::metrics::ClassifierMetrics;

/// The metrics in the text exposition format.
pub fn render(metrics: &ClassifierMetrics) -> String {
    let mut out = String::new();
    let counters = [
        ("segstream_records_read_total", "Records read from sources.", &metrics.records_read),
        (
            "segstream_events_rejected_total",
            "Records rejected by decoding or validation.",
            &metrics.rejected,
        ),
        (
            "segstream_events_sidelined_total",
            "Events older than the dedup horizon, not applied.",
            &metrics.sidelined,
        ),
        (
            "segstream_events_late_total",
            "Events applied at the frontier after the watermark passed them.",
            &metrics.late,
        ),
        (
            "segstream_events_duplicate_total",
            "Events dropped as duplicates.",
            &metrics.duplicates,
        ),
        ("segstream_events_applied_total", "Events applied to features.", &metrics.applied),
        (
            "segstream_membership_changes_total",
            "Membership changes emitted.",
            &metrics.changes,
        ),
        (
            "segstream_rule_errors_total",
            "Rule updates that did not compile.",
            &metrics.rule_errors,
        ),
        (
            "segstream_users_evicted_total",
            "Users evicted after the user TTL with no windowed state and no membership.",
            &metrics.evictions,
        ),
        (
            "segstream_dead_letters_total",
            "Records sent to the dead-letter topic.",
            &metrics.dead_letters,
        ),
        (
            "segstream_dead_letters_failed_total",
            "Dead letters that failed for good; each holds its partition's offset commits until a restart.",
            &metrics.dead_letters_failed,
        ),
        (
            "segstream_redis_refused_total",
            "Profile-store commands Redis refused for good (e.g. WRONGTYPE), logged with the user's key and not retried.",
            &metrics.redis_refused,
        ),
    ];
    for (name, help, counter) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            ClassifierMetrics::get(counter)
        );
    }
    let totals = metrics.totals();
    let gauges = [
        (
            "segstream_watermark_milliseconds",
            "The lowest source watermark over workers (epoch ms).",
            totals.watermark_ms,
        ),
        (
            "segstream_users",
            "Users with classifier state (live; evicted ones are not counted).",
            totals.users,
        ),
        (
            "segstream_users_dormant",
            "Evicted users that keep their condition results and memberships.",
            totals.dormant_users,
        ),
        (
            "segstream_dedup_entries",
            "Event ids remembered for deduplication.",
            totals.dedup_entries,
        ),
        (
            "segstream_durable_frontier_milliseconds",
            "Every change before this event time (epoch ms) is written to all outputs.",
            ClassifierMetrics::get(&metrics.durable_frontier_ms),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let metrics = ClassifierMetrics::default();
        ClassifierMetrics::add(&metrics.duplicates, 3);
        metrics.set_worker(0, |g| g.users = 7);
        let text = render(&metrics);
        assert!(
            text.contains("# TYPE segstream_events_duplicate_total counter\nsegstream_events_duplicate_total 3\n"),
            "{text}"
        );
        assert!(text.contains("segstream_users 7\n"), "{text}");
        ClassifierMetrics::add(&metrics.dead_letters_failed, 2);
        assert!(
            render(&metrics).contains("segstream_dead_letters_failed_total 2\n"),
            "a failed dead letter is exported"
        );
    }
}
