//! The classifier's metrics as a Prometheus collector.
//!
//! Contract: [`ClassifierMetrics`] implements `prometheus-client`'s [`Collector`]: on
//! each scrape it describes its counters (`_total`), the watermark, the durable
//! frontier and the newest complete checkpoint as `_timestamp_seconds` gauges, the
//! latest checkpoint snapshot's longest slice and size, live and dormant users,
//! remembered event ids,
//! and the members of each segment (`segstream_segment_members{segment}`, from the
//! `sizes` collection the host feeds in). Pure
//! description of values the operators keep in atomics; serving it is the host's.

use std::fmt;

use segstream_telemetry::exposition::{counter, gauge, labelled, Collector, DescriptorEncoder, Kind};

use super::metrics::ClassifierMetrics;

/// Milliseconds since the epoch as Prometheus seconds.
fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Collector for ClassifierMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let counters = [
            ("segstream_records_read_total", "Records read from sources.", &self.records_read),
            (
                "segstream_events_rejected_total",
                "Records rejected by decoding or validation.",
                &self.rejected,
            ),
            (
                "segstream_events_sidelined_total",
                "Events older than the dedup horizon, not applied.",
                &self.sidelined,
            ),
            (
                "segstream_events_late_total",
                "Events applied at the frontier after the watermark passed them.",
                &self.late,
            ),
            (
                "segstream_events_duplicate_total",
                "Events dropped as duplicates.",
                &self.duplicates,
            ),
            ("segstream_events_applied_total", "Events applied to features.", &self.applied),
            ("segstream_membership_changes_total", "Membership changes emitted.", &self.changes),
            (
                "segstream_rule_errors_total",
                "Rule updates that did not compile.",
                &self.rule_errors,
            ),
            (
                "segstream_users_evicted_total",
                "Users evicted after the user TTL with no windowed state and no membership.",
                &self.evictions,
            ),
            (
                "segstream_dead_letters_total",
                "Records sent to the dead-letter topic.",
                &self.dead_letters,
            ),
            (
                "segstream_dead_letters_failed_total",
                "Dead letters that failed for good; each holds its partition's offset commits until a restart.",
                &self.dead_letters_failed,
            ),
            (
                "segstream_redis_refused_total",
                "Profile-store commands Redis refused for good (e.g. WRONGTYPE), logged with the user's key and not retried.",
                &self.redis_refused,
            ),
            (
                "segstream_checkpoint_snapshots_total",
                "Engine snapshots taken for checkpoints, over this process's workers.",
                &self.checkpoint_snapshots,
            ),
            (
                "segstream_checkpoint_requests_skipped_total",
                "Checkpoint requests a worker skipped because its previous snapshot was still being saved.",
                &self.checkpoint_requests_skipped,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, ClassifierMetrics::get(value))?;
        }
        let totals = self.totals();
        let gauges = [
            (
                "segstream_watermark_timestamp_seconds",
                "The lowest source watermark over workers (event time, seconds since the epoch).",
                seconds(totals.watermark_ms),
            ),
            (
                "segstream_durable_frontier_timestamp_seconds",
                "Every change before this event time (seconds since the epoch) is written to all outputs.",
                seconds(ClassifierMetrics::get(&self.durable_frontier_ms)),
            ),
            (
                "segstream_checkpoint_timestamp_seconds",
                "The tick of the newest complete checkpoint (event time, seconds since the epoch; 0: none yet).",
                seconds(ClassifierMetrics::get(&self.checkpoint_committed_ms)),
            ),
            (
                "segstream_checkpoint_longest_slice_seconds",
                "The longest slice of the latest checkpoint snapshot: the longest it held a worker at a time.",
                ClassifierMetrics::get(&self.checkpoint_longest_slice_us) as f64 / 1e6,
            ),
            (
                "segstream_checkpoint_part_bytes",
                "The size of the latest checkpoint snapshot (one worker's part).",
                ClassifierMetrics::get(&self.checkpoint_part_bytes) as f64,
            ),
            (
                "segstream_users",
                "Users with classifier state (live; evicted ones are not counted).",
                totals.users as f64,
            ),
            (
                "segstream_users_dormant",
                "Evicted users that keep their condition results and memberships.",
                totals.dormant_users as f64,
            ),
            (
                "segstream_dedup_entries",
                "Event ids remembered for deduplication.",
                totals.dedup_entries as f64,
            ),
        ];
        for (name, help, value) in gauges {
            gauge(&mut encoder, name, help, value)?;
        }
        let members = self.segment_members();
        let samples: Vec<(&str, f64)> = members.iter().map(|(segment, n)| (segment.as_str(), *n as f64)).collect();
        labelled(
            &mut encoder,
            Kind::Gauge,
            "segstream_segment_members",
            "Users in each segment, as classified by this process's workers.",
            "segment",
            &samples,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream_telemetry::exposition::Exposition;
    use std::sync::Arc;

    #[test]
    fn renders_counters_gauges_and_segment_sizes() {
        let metrics = Arc::new(ClassifierMetrics::default());
        ClassifierMetrics::add(&metrics.duplicates, 3);
        metrics
            .checkpoint_committed_ms
            .store(1_700_000_000_500, std::sync::atomic::Ordering::Relaxed);
        metrics
            .checkpoint_longest_slice_us
            .store(1_250, std::sync::atomic::Ordering::Relaxed);
        metrics.set_worker(0, |g| {
            g.users = 7;
            g.watermark_ms = 1_500;
        });
        metrics.apply_sizes([
            ("vip", 2, 1),
            ("lapsed", 1, 1),
            ("vip", 2, -1),
            ("vip", 1, 1),
            ("gone", 3, 1),
            ("gone", 3, -1),
        ]);
        let exposition = Exposition::of(Arc::clone(&metrics));
        let text = exposition.render();
        for expected in [
            "# TYPE segstream_events_duplicate_total counter\nsegstream_events_duplicate_total 3\n",
            "segstream_users 7.0\n",
            "segstream_watermark_timestamp_seconds 1.5\n",
            "segstream_checkpoint_timestamp_seconds 1700000000.5\n",
            "segstream_checkpoint_longest_slice_seconds 0.00125\n",
            "segstream_segment_members{segment=\"lapsed\"} 1.0\n",
            "segstream_segment_members{segment=\"vip\"} 1.0\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
        assert!(!text.contains("gone"), "a removed segment has no size: {text}");
        ClassifierMetrics::add(&metrics.dead_letters_failed, 2);
        assert!(
            exposition.render().contains("segstream_dead_letters_failed_total 2\n"),
            "a failed dead letter is exported"
        );
    }
}
