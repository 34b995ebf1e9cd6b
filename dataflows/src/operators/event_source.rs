//! The event source operator: reads a worker's partitions and holds event time.
//!
//! Contract: emits `(event, tick)` for each decoded event at the tick the late-event rule
//! ([`place`]) gives it: its own tick, or its partition's watermark tick when it is
//! behind that ("late", true event time kept in the data); an event older than that
//! watermark minus the dedup horizon is sidelined (counted, handed to
//! [`EventSource::on_sidelined`], not emitted). The tick
//! therefore depends on the input alone, not on which worker reads the partition. The
//! capability follows the worker's watermark of [`WatermarkTracker`] (rounded down to
//! the tick), which is never ahead of an active partition's, and is released when the
//! source is finished, or at once on a worker that owns no partition (unless its
//! source may gain partitions later: then it follows the processing clock). The source
//! is told the tick each record went out at ([`EventSource::on_emitted`]). Rejected
//! records are counted with their reason.
//!
//! Resumed from a checkpoint as of tick `T` ([`SourceResume`]: the source positioned at
//! each partition's resume point, [`crate::classifier::emitted`]), each partition's
//! highest event time before that point is restored and the capability starts at `T`,
//! so every record the late-event rule placed at `T` or later is placed as it was
//! before the restart. One it placed before `T` goes out at the capability instead:
//! the engine's dedup drops it, its effect being in the checkpoint's state — unless it
//! went out at `T` or later after all (at the capability of a partition back from
//! idleness), when it applies at the capability rather than being lost.
//!
//! ```
//! use std::sync::Arc;
//! use segstream_dataflows::classifier::{metrics::ClassifierMetrics, source::{SourceRecord, VecSource}, ClassifierConfig};
//! use segstream_model::event::Event;
//! use segstream_dataflows::operators::event_source::{event_source, SourceContext};
//! use timely::dataflow::operators::{Capture, capture::Extract};
//!
//! let event = |time: u64, id: &str| SourceRecord::Event(Event { time, id: id.into(), user: "u".into(), event_type: 0,
//!     properties: vec![], client_time: time as i64, sent_at: time as i64, received_at: time as i64 });
//! let records = vec![vec![event(1_000, "a"), event(5_250, "b"), event(900, "late")]];
//! let metrics = Arc::new(ClassifierMetrics::default());
//! let context = SourceContext { config: ClassifierConfig { max_out_of_order_ms: 2_000, ..Default::default() },
//!     metrics: metrics.clone(), clock: Arc::new(|| 0), budget: 1, resume: None };
//! let captured = timely::example(move |scope| {
//!     event_source(scope, VecSource::for_worker(&records, 0, 1), context).capture()
//! });
//! let by_time: Vec<(u64, Vec<String>)> = captured.extract().into_iter().map(|(t, es)| (t, es.into_iter().map(|(e, _)| e.id).collect())).collect();
//! // "late" (900) is read after its partition saw 5250 (watermark 3250, tick 3200): emitted there, true time kept.
//! assert_eq!(by_time, vec![(1_000, vec!["a".to_string()]), (3_200, vec!["late".to_string()]), (5_200, vec!["b".to_string()])]);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use crate::classifier::emitted::ResumePoint;
use crate::classifier::metrics::ClassifierMetrics;
use crate::classifier::placement::{place, Placement};
use crate::classifier::source::{Emitted, EventSource, Poll, SourceRecord};
use crate::classifier::watermark::WatermarkTracker;
use crate::classifier::ClassifierConfig;
use segstream_model::event::Event;

/// Milliseconds of processing time, for idleness.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the source operator needs besides its source.
#[derive(Clone)]
pub struct SourceContext {
    /// Time parameters.
    pub config: ClassifierConfig,
    /// Shared counters.
    pub metrics: Arc<ClassifierMetrics>,
    /// Processing clock in ms.
    pub clock: Clock,
    /// Most records read per activation.
    pub budget: usize,
    /// Where a restart from a checkpoint resumes; `None` on a fresh start.
    pub resume: Option<SourceResume>,
}

/// A restart from a checkpoint, for the source operator (see the module contract).
#[derive(Clone, Debug, Default)]
pub struct SourceResume {
    /// The checkpoint's tick.
    pub as_of: u64,
    /// Each partition's resume point (the source is already positioned there).
    pub points: BTreeMap<u32, ResumePoint>,
}

/// The source operator (see the module contract).
pub fn event_source<'s, S: EventSource>(
    scope: Scope<'s, u64>,
    mut events: S,
    context: SourceContext,
) -> Stream<'s, u64, Vec<(Event, u64)>> {
    let worker = scope.index();
    source::<_, CapacityContainerBuilder<Vec<(Event, u64)>>, _, _>(scope, "EventSource", move |capability: Capability<u64>, info| {
        let activator = scope.activator_for(info.address);
        let config = context.config;
        let partitions = events.partitions();
        let resumed_at = context.resume.as_ref().map_or(0, |r| r.as_of);
        let mut tracker = WatermarkTracker::new(&partitions, config.max_out_of_order_ms, config.idle_timeout_ms, resumed_at);
        let started = (context.clock)();
        for (partition, point) in context.resume.iter().flat_map(|r| &r.points) {
            // Only this worker's partitions: another's would hold its watermark back.
            if partitions.contains(partition) {
                tracker.resume(*partition, point.seen_before, started);
            }
        }
        let mut capability = if partitions.is_empty() && !events.may_gain_partitions() {
            None
        } else {
            let mut capability = capability;
            capability.downgrade(&resumed_at);
            Some(capability)
        };
        let mut batch = Vec::new();
        move |output| {
            let Some(cap) = capability.as_mut() else { return };
            let now = (context.clock)();
            batch.clear();
            let poll = events.poll(context.budget, &mut batch);
            let watermark = tracker.current();
            let mut by_tick: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
            let (mut rejected, mut sidelined, mut late) = (0, 0, 0);
            for (partition, record) in batch.drain(..) {
                let seen_before = tracker.seen(partition);
                let emitted = |tick: u64, seen_after: Option<u64>| Emitted {
                    tick,
                    seen_before,
                    seen_after,
                };
                match record {
                    SourceRecord::Rejected(reason) => {
                        rejected += 1;
                        tracker.touch(partition, now);
                        events.on_emitted(partition, emitted(*cap.time(), seen_before));
                        if let Ok(mut last) = context.metrics.last_rejection.lock() {
                            *last = Some(reason);
                        }
                    }
                    SourceRecord::Event(event) => {
                        let partition_watermark = tracker.partition_watermark(partition);
                        // Replayed from before the checkpoint: at the capability, where the
                        // dedup drops it unless it went out after the checkpoint's tick (a
                        // partition back from idleness) and is not in its state. Asked only
                        // after a restore: a fresh start places each event once.
                        let replayed = resumed_at > 0
                            && matches!(place(event.time, partition_watermark, 0, watermark, &config),
                                Placement::Applies { tick, .. } if tick < resumed_at);
                        let placement = match replayed {
                            true => Placement::Applies {
                                tick: *cap.time(),
                                late: true,
                            },
                            false => place(event.time, partition_watermark, *cap.time(), watermark, &config),
                        };
                        tracker.observe(partition, event.time, now);
                        let seen_after = tracker.seen(partition);
                        context
                            .metrics
                            .max_event_time_ms
                            .fetch_max(event.time, std::sync::atomic::Ordering::Relaxed);
                        match placement {
                            Placement::Sidelined => {
                                sidelined += 1;
                                events.on_sidelined(partition, &event);
                                events.on_emitted(partition, emitted(*cap.time(), seen_after));
                            }
                            Placement::Applies { tick, late: is_late } => {
                                late += u64::from(is_late);
                                events.on_emitted(partition, emitted(tick, seen_after));
                                by_tick.entry(tick).or_default().push(event);
                            }
                        }
                    }
                }
            }
            let read = rejected + sidelined + by_tick.values().map(Vec::len).sum::<usize>() as u64;
            ClassifierMetrics::add(&context.metrics.records_read, read);
            ClassifierMetrics::add(&context.metrics.rejected, rejected);
            ClassifierMetrics::add(&context.metrics.sidelined, sidelined);
            ClassifierMetrics::add(&context.metrics.late, late);
            for (tick, events) in by_tick {
                let at = cap.delayed(&tick);
                output.session(&at).give_iterator(events.into_iter().map(|e| (e, tick)));
            }
            if poll == Poll::Finished {
                capability = None;
                context.metrics.set_worker(worker, |g| g.watermark_ms = u64::MAX);
                return;
            }
            let mark = tracker.watermark(now, |p| events.caught_up(p));
            context.metrics.set_worker(worker, |g| g.watermark_ms = mark);
            let tick = config.tick_of(mark);
            if tick > *cap.time() {
                cap.downgrade(&tick);
            }
            if read > 0 {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(5));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::source::VecSource;

    /// A [`VecSource`] that keeps what it was told was sidelined.
    struct Recording {
        inner: VecSource,
        sidelined: Arc<std::sync::Mutex<Vec<(u32, String)>>>,
    }

    impl EventSource for Recording {
        fn partitions(&self) -> Vec<u32> {
            self.inner.partitions()
        }
        fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
            self.inner.poll(budget, out)
        }
        fn caught_up(&self, partition: u32) -> bool {
            self.inner.caught_up(partition)
        }
        fn on_sidelined(&mut self, partition: u32, event: &Event) {
            self.sidelined.lock().unwrap().push((partition, event.id.clone()));
        }
    }

    #[test]
    fn a_too_old_event_is_handed_to_the_source_not_only_counted() {
        let event = |time: u64, id: &str| {
            SourceRecord::Event(Event {
                time,
                id: id.into(),
                user: "u".into(),
                event_type: 0,
                properties: vec![],
                client_time: time as i64,
                sent_at: time as i64,
                received_at: time as i64,
            })
        };
        // After 100 s, the partition's watermark is 99 s; an event at 1 s is 98 s behind,
        // beyond a 10 s dedup horizon.
        let records = vec![vec![event(100_000, "new"), event(1_000, "ancient")]];
        let sidelined = Arc::new(std::sync::Mutex::new(Vec::new()));
        let metrics = Arc::new(ClassifierMetrics::default());
        let context = SourceContext {
            config: ClassifierConfig {
                max_out_of_order_ms: 1_000,
                dedup_horizon_ms: 10_000,
                ..Default::default()
            },
            metrics: Arc::clone(&metrics),
            clock: Arc::new(|| 0),
            budget: 10,
            resume: None,
        };
        let told = Arc::clone(&sidelined);
        timely::example(move |scope| {
            let source = Recording {
                inner: VecSource::for_worker(&records, 0, 1),
                sidelined: told,
            };
            event_source(scope, source, context);
        });
        assert_eq!(*sidelined.lock().unwrap(), vec![(0, "ancient".to_string())]);
        assert_eq!(ClassifierMetrics::get(&metrics.sidelined), 1);
    }
}
