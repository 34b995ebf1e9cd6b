//! Driving one worker of a live (unbounded) classifier: the demo's and the distributed deployment's step loop.
//!
//! Contract: [`drive`] advances the worker's side inputs (rules, profiles, stats) with
//! its source watermark, so event time can pass; steps the worker; calls `after_step`
//! after every step (to drain outputs and apply rule edits); and once `stop` is raised
//! closes the inputs and keeps stepping until every output is complete. Rule edits reach
//! worker 0 through a [`RuleMailbox`] (see [`crate::rule_mailbox`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::classifier::metrics::ClassifierMetrics;
use crate::classifier::ClassifierConfig;
use crate::dataflow::Handles;
pub use crate::rule_mailbox::{RuleAcks, RuleMailbox};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// Runs a worker until stopped and drained (see the module contract). `after_step`
/// gets the live inputs (until they are closed), e.g. to apply rule edits.
pub fn drive(
    worker: &mut Worker,
    handles: Handles,
    probe: &ProbeHandle<u64>,
    stop: &AtomicBool,
    metrics: &ClassifierMetrics,
    config: &ClassifierConfig,
    mut after_step: impl FnMut(Option<&mut Handles>),
) {
    let index = worker.index();
    let mut handles = Some(handles);
    loop {
        if stop.load(Ordering::Relaxed) {
            handles = None;
        }
        if let Some(h) = handles.as_mut() {
            h.advance_to(config.tick_of(worker_watermark(metrics, index)));
        }
        worker.step_or_park(Some(Duration::from_millis(1)));
        after_step(handles.as_mut());
        if handles.is_none() && probe.done() {
            return;
        }
    }
}

/// The source watermark of worker `index` (capped, so a finished source's `u64::MAX`
/// still leaves room to advance inputs past it).
pub fn worker_watermark(metrics: &ClassifierMetrics, index: usize) -> u64 {
    metrics
        .workers
        .lock()
        .ok()
        .and_then(|w| w.get(&index).map(|g| g.watermark_ms))
        .unwrap_or(0)
        .min(u64::MAX / 2)
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
