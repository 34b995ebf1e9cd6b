//! The event source operator: reads a worker's partitions and holds event time.
//!
//! Contract: emits `(event, tick)` for each decoded event at its tick when that tick is not behind the
//! worker's watermark capability; an event behind it ("late") is emitted at the
//! capability's time with its true event time kept in the data, unless it is older than
//! the watermark minus the dedup horizon, in which case it is sidelined (counted, not
//! emitted). The capability follows the watermark of [`WatermarkTracker`] (rounded down
//! to the tick) and is released when the source is finished, or at once on a worker
//! that owns no partition (unless its source may gain partitions later: then it
//! follows the processing clock). After each downgrade the source is told the new
//! tick ([`EventSource::on_watermark`]). Rejected records are counted with their reason.
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
//!     metrics: metrics.clone(), clock: Arc::new(|| 0), budget: 1 };
//! let captured = timely::example(move |scope| {
//!     event_source(scope, VecSource::for_worker(&records, 0, 1), context).capture()
//! });
//! let by_time: Vec<(u64, Vec<String>)> = captured.extract().into_iter().map(|(t, es)| (t, es.into_iter().map(|(e, _)| e.id).collect())).collect();
//! // "late" (900) arrives after the watermark reached 3200 (tick 3200): emitted there, true time kept.
//! assert_eq!(by_time, vec![(1_000, vec!["a".to_string()]), (3_200, vec!["late".to_string()]), (5_200, vec!["b".to_string()])]);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use crate::classifier::metrics::ClassifierMetrics;
use crate::classifier::source::{EventSource, Poll, SourceRecord};
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
        let mut tracker = WatermarkTracker::new(&partitions, config.max_out_of_order_ms, config.idle_timeout_ms, 0);
        let mut capability = if partitions.is_empty() && !events.may_gain_partitions() {
            None
        } else {
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
                match record {
                    SourceRecord::Rejected(reason) => {
                        rejected += 1;
                        tracker.touch(partition, now);
                        if let Ok(mut last) = context.metrics.last_rejection.lock() {
                            *last = Some(reason);
                        }
                    }
                    SourceRecord::Event(event) => {
                        tracker.observe(partition, event.time, now);
                        context
                            .metrics
                            .max_event_time_ms
                            .fetch_max(event.time, std::sync::atomic::Ordering::Relaxed);
                        let tick = config.tick_of(event.time);
                        if tick >= *cap.time() {
                            by_tick.entry(tick).or_default().push(event);
                        } else if event.time.saturating_add(config.dedup_horizon_ms) < watermark {
                            sidelined += 1;
                        } else {
                            late += 1;
                            by_tick.entry(*cap.time()).or_default().push(event);
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
                events.on_watermark(tick);
            }
            if read > 0 {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(5));
            }
        }
    })
}
