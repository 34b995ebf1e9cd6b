//! The late-event rule: at which tick an event read from a partition takes effect.
//!
//! Contract: an event applies at the later of its own tick and the tick of its
//! partition's watermark *at that record* (the partition's highest earlier event time
//! minus `max_out_of_order`), so the tick depends on the input alone — not on how
//! partitions are spread over workers and processes, on batching, or on the clock. An
//! event behind its partition's watermark is *late*: it applies at the watermark's tick
//! with its true time kept, so it counts in the windows still open there and not in
//! closed ones. One older than that watermark minus the dedup horizon is *sidelined*
//! (its id may already be forgotten, so applying it could count it twice).
//!
//! One exception keeps the dataflow sound: a worker's capability may have passed the
//! partition's watermark when the partition was idle (caught up and silent for the idle
//! timeout) and the worker's watermark moved on without it. An event of such a
//! partition applies at the capability, and the sideline line is drawn from the
//! worker's watermark too. Only wall-clock idleness reaches this case, and bounded input
//! (files, the tests) never does.
//!
//! ```
//! use segstream_dataflows::classifier::placement::{place, Placement};
//! use segstream_dataflows::classifier::ClassifierConfig;
//! let config = ClassifierConfig { tick_ms: 100, max_out_of_order_ms: 1_000, ..Default::default() };
//! // The partition has seen 10_000: its watermark is 9_000.
//! assert_eq!(place(9_450, Some(9_000), 5_000, 5_000, &config), Placement::Applies { tick: 9_400, late: false });
//! assert_eq!(place(8_450, Some(9_000), 5_000, 5_000, &config), Placement::Applies { tick: 9_000, late: true });
//! // The worker's capability (5_000) is behind: it does not matter.
//! assert_eq!(place(8_450, Some(9_000), 0, 0, &config), Placement::Applies { tick: 9_000, late: true });
//! ```

use super::ClassifierConfig;

/// Where an event goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// It takes effect at `tick`; `late` when that is after its own tick.
    Applies {
        /// The tick it takes effect at.
        tick: u64,
        /// Whether it is behind the watermark.
        late: bool,
    },
    /// Older than the dedup horizon allows: counted, not applied.
    Sidelined,
}

/// Places an event at `event_time` whose partition's watermark before it was
/// `partition_watermark`, on a worker whose capability is at `capability` (a tick) and
/// whose watermark is `worker_watermark` (see the module contract).
pub fn place(
    event_time: u64,
    partition_watermark: Option<u64>,
    capability: u64,
    worker_watermark: u64,
    config: &ClassifierConfig,
) -> Placement {
    let own = config.tick_of(event_time);
    let by_partition = own.max(partition_watermark.map_or(0, |mark| config.tick_of(mark)));
    let (tick, reference) = if by_partition >= capability {
        (by_partition, partition_watermark.unwrap_or(0))
    } else {
        (capability, worker_watermark.max(partition_watermark.unwrap_or(0)))
    };
    if event_time.saturating_add(config.dedup_horizon_ms) < reference {
        return Placement::Sidelined;
    }
    Placement::Applies { tick, late: tick > own }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClassifierConfig {
        ClassifierConfig {
            tick_ms: 100,
            max_out_of_order_ms: 1_000,
            dedup_horizon_ms: 60_000,
            ..ClassifierConfig::default()
        }
    }

    #[test]
    fn a_partition_without_events_makes_nothing_late() {
        assert_eq!(place(250, None, 0, 0, &config()), Placement::Applies { tick: 200, late: false });
    }

    #[test]
    fn within_the_watermark_tick_an_event_is_on_time() {
        // Watermark 9_050 is in tick 9_000; an event at 9_010 is behind it but in the same tick.
        assert_eq!(
            place(9_010, Some(9_050), 0, 0, &config()),
            Placement::Applies { tick: 9_000, late: false }
        );
    }

    #[test]
    fn older_than_the_horizon_behind_the_partition_is_sidelined() {
        assert_eq!(place(10_000, Some(70_001), 0, 0, &config()), Placement::Sidelined);
        assert_eq!(
            place(10_001, Some(70_001), 0, 0, &config()),
            Placement::Applies { tick: 70_000, late: true }
        );
    }

    #[test]
    fn a_partition_back_from_idleness_applies_at_the_capability() {
        assert_eq!(
            place(30_000, Some(31_000), 80_000, 80_050, &config()),
            Placement::Applies { tick: 80_000, late: true }
        );
        assert_eq!(place(20_049, Some(1_000), 80_000, 80_050, &config()), Placement::Sidelined);
    }
}
