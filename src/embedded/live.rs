//! Driving one worker of a live (unbounded) classifier.
//!
//! Contract: [`drive`] advances the worker's side inputs (rules, profiles, stats) with
//! its source watermark, so event time can pass; steps the worker; calls `after_step`
//! after every step (to drain outputs); and once `stop` is raised closes the inputs
//! and keeps stepping until every output is complete.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_dataflows::dataflow::Handles;
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// Runs a worker until stopped and drained (see the module contract).
pub fn drive(
    worker: &mut Worker,
    handles: Handles,
    probe: &ProbeHandle<u64>,
    stop: &AtomicBool,
    metrics: &ClassifierMetrics,
    config: &ClassifierConfig,
    mut after_step: impl FnMut(),
) {
    let index = worker.index();
    let mut handles = Some(handles);
    loop {
        if stop.load(Ordering::Relaxed) {
            handles = None;
        }
        if let Some(h) = handles.as_mut() {
            let watermark = metrics
                .workers
                .lock()
                .ok()
                .and_then(|w| w.get(index).map(|g| g.watermark_ms))
                .unwrap_or(0);
            h.advance_to(config.tick_of(watermark.min(u64::MAX / 2)));
        }
        worker.step_or_park(Some(Duration::from_millis(1)));
        after_step();
        if handles.is_none() && probe.done() {
            return;
        }
    }
}

/// One line summarising what a run did, from its counters.
pub fn summary(metrics: &ClassifierMetrics) -> String {
    format!(
        "{} records read, {} applied, {} duplicates dropped, {} late, {} sidelined, {} rejected",
        ClassifierMetrics::get(&metrics.records_read),
        ClassifierMetrics::get(&metrics.applied),
        ClassifierMetrics::get(&metrics.duplicates),
        ClassifierMetrics::get(&metrics.late),
        ClassifierMetrics::get(&metrics.sidelined),
        ClassifierMetrics::get(&metrics.rejected)
    )
}
