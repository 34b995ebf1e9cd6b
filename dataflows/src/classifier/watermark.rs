//! Event-time watermarks of one worker's partitions.
//!
//! Contract: each partition's watermark is its highest event time seen minus
//! `max_out_of_order`; the worker's watermark is the minimum over its *active*
//! partitions and never goes backwards. A partition is idle when it is caught up and
//! has either never delivered anything or delivered nothing for `idle_timeout` of
//! processing time; idle partitions do not hold the watermark back, and when every
//! partition is idle (or the worker has none) the watermark follows the processing
//! clock minus `max_out_of_order`. A partition that has never delivered an event and is
//! not caught up (it is still reading its backlog) holds the watermark where it is.
//! Processing time is passed in, so tests control it.
//!
//! *Why a never-used partition is idle at once:* waiting `idle_timeout` for it delayed
//! every start (the demo showed nothing for 5 s) and held the watermark of a topic with
//! more partitions than traffic; a partition with no data at all has nothing that a
//! later watermark could make late, until it delivers (from then on it counts).

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, Default)]
struct PartitionClock {
    max_event_time: Option<u64>,
    /// When it last delivered anything; `None` if it never did.
    last_delivery_ms: Option<u64>,
}

/// Watermark state of one worker.
#[derive(Clone, Debug)]
pub struct WatermarkTracker {
    partitions: BTreeMap<u32, PartitionClock>,
    max_out_of_order_ms: u64,
    idle_timeout_ms: u64,
    current: u64,
}

impl WatermarkTracker {
    /// A tracker for `partitions`, starting at `start`.
    pub fn new(partitions: &[u32], max_out_of_order_ms: u64, idle_timeout_ms: u64, start: u64) -> WatermarkTracker {
        let partitions = partitions.iter().map(|p| (*p, PartitionClock::default())).collect();
        WatermarkTracker {
            partitions,
            max_out_of_order_ms,
            idle_timeout_ms,
            current: start,
        }
    }

    /// Resumes `partition` from a checkpoint at processing time `now_ms`: it had seen
    /// events up to `max_event_time`. One that had delivered counts as delivering now
    /// (it is idle only after the idle timeout, as it would have been without the
    /// restart); one that had not stays idle at once when caught up.
    pub fn resume(&mut self, partition: u32, max_event_time: Option<u64>, now_ms: u64) {
        let clock = self.partitions.entry(partition).or_default();
        clock.max_event_time = max_event_time;
        clock.last_delivery_ms = max_event_time.map(|_| now_ms);
    }

    /// The highest event time `partition` has seen.
    pub fn seen(&self, partition: u32) -> Option<u64> {
        self.partitions.get(&partition).and_then(|clock| clock.max_event_time)
    }

    /// Records an event of `partition` with `event_time`, delivered at processing time `now_ms`.
    pub fn observe(&mut self, partition: u32, event_time: u64, now_ms: u64) {
        let clock = self.partitions.entry(partition).or_default();
        clock.max_event_time = Some(clock.max_event_time.map_or(event_time, |m| m.max(event_time)));
        clock.last_delivery_ms = Some(now_ms);
    }

    /// The watermark of `partition` alone: its highest event time so far minus
    /// `max_out_of_order` (`None` before its first event). It depends on the
    /// partition's records and nothing else.
    pub fn partition_watermark(&self, partition: u32) -> Option<u64> {
        self.partitions
            .get(&partition)
            .and_then(|clock| clock.max_event_time)
            .map(|max| max.saturating_sub(self.max_out_of_order_ms))
    }

    /// Records that `partition` delivered something (even a rejected record) at `now_ms`.
    pub fn touch(&mut self, partition: u32, now_ms: u64) {
        self.partitions.entry(partition).or_default().last_delivery_ms = Some(now_ms);
    }

    /// The watermark at processing time `now_ms`, given which partitions are caught up.
    pub fn watermark(&mut self, now_ms: u64, caught_up: impl Fn(u32) -> bool) -> u64 {
        let mut active_min: Option<u64> = None;
        let mut any_active = false;
        for (partition, clock) in &self.partitions {
            let quiet = clock
                .last_delivery_ms
                .is_none_or(|last| now_ms.saturating_sub(last) >= self.idle_timeout_ms);
            let idle = caught_up(*partition) && quiet;
            if idle {
                continue;
            }
            any_active = true;
            let mark = clock
                .max_event_time
                .map_or(self.current, |m| m.saturating_sub(self.max_out_of_order_ms));
            active_min = Some(active_min.map_or(mark, |a| a.min(mark)));
        }
        let candidate = if any_active {
            active_min.unwrap_or(self.current)
        } else {
            now_ms.saturating_sub(self.max_out_of_order_ms)
        };
        self.current = self.current.max(candidate);
        self.current
    }

    /// The current watermark.
    pub fn current(&self) -> u64 {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_over_active_partitions_and_idle_fallback() {
        let mut w = WatermarkTracker::new(&[0, 1], 1_000, 5_000, 0);
        w.observe(0, 10_000, 0);
        assert_eq!(w.watermark(0, |_| false), 0, "partition 1 has no data yet and is still reading");
        w.observe(1, 8_000, 0);
        assert_eq!(w.watermark(0, |_| false), 7_000);
        assert_eq!(
            (w.partition_watermark(0), w.partition_watermark(1), w.partition_watermark(2)),
            (Some(9_000), Some(7_000), None)
        );
        w.observe(1, 20_000, 1);
        assert_eq!(w.watermark(1, |_| false), 9_000);
        assert_eq!(w.watermark(2_000, |p| p == 0), 9_000, "partition 0 caught up but not yet idle");
        assert_eq!(w.watermark(5_001, |p| p == 0), 19_000, "partition 0 idle: only partition 1 counts");
        assert_eq!(w.watermark(100_000, |_| true), 99_000, "all idle: processing clock");
        w.observe(0, 1_000, 100_001);
        assert_eq!(w.watermark(100_001, |_| false), 99_000, "never goes backwards");
    }

    #[test]
    fn a_caught_up_partition_that_never_had_data_does_not_hold_the_watermark() {
        let mut w = WatermarkTracker::new(&[0, 1], 1_000, 5_000, 0);
        assert_eq!(w.watermark(50_000, |_| true), 49_000, "no data anywhere: processing clock at once");
        w.observe(0, 60_000, 50_001);
        assert_eq!(w.watermark(50_001, |p| p == 1), 59_000, "partition 1 is empty and caught up");
        w.observe(1, 61_000, 50_002);
        w.observe(0, 70_000, 50_002);
        assert_eq!(w.watermark(50_002, |_| true), 60_000, "once it delivered, it counts until idle");
    }
}
