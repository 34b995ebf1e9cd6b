//! Rule edits into a live classifier, and which workers have applied them.
//!
//! Contract: [`RuleMailbox::post`] leaves a whole new rule set, labelled with its
//! rule-set version, for worker 0 (a newer post replaces one not yet taken).
//! [`RuleMailbox::apply`] (on worker 0, between steps) inserts and retracts the
//! difference to the set in force at the rule input's current time and says which
//! version it applied at which time. [`RuleAcks`] turns that into acknowledgements: a
//! worker has applied version `v` once its output probe has passed the time `v` was
//! applied at, because then every rule update at that time went through its operators.
//!
//! ```
//! use segstream_dataflows::rule_mailbox::RuleAcks;
//! let acks = RuleAcks::new(2);
//! acks.posted(7, 1_000);
//! // `still_pending(t)`: the worker's probe frontier is at or before t.
//! acks.observe(0, |t| 2_000 <= t); // worker 0's probe is at 2_000: past 1_000
//! acks.observe(1, |t| 900 <= t); // worker 1's is at 900: not there yet
//! assert_eq!(acks.applied(), vec![7, 0]);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use segstream_rules::SegmentDef;

use crate::dataflow::Handles;

/// A new rule set waiting to be applied, shared between threads.
#[derive(Default)]
pub struct RuleMailbox {
    pending: Mutex<Option<(Vec<SegmentDef>, u64)>>,
}

impl RuleMailbox {
    /// Posts a new set with its rule-set version (replacing one not yet taken).
    pub fn post(&self, defs: Vec<SegmentDef>, version: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = Some((defs, version));
        }
    }

    /// Applies a posted set as insertions and retractions relative to `current`;
    /// `(version, time)` when it applied one.
    pub fn apply(&self, current: &mut Vec<SegmentDef>, handles: &mut Handles) -> Option<(u64, u64)> {
        let (next, version) = self.pending.lock().ok().and_then(|mut p| p.take())?;
        for def in current.iter().filter(|d| !next.contains(d)) {
            handles.rules.update(def.clone(), -1);
        }
        for def in next.iter().filter(|d| !current.contains(d)) {
            handles.rules.update(def.clone(), 1);
        }
        let time = *handles.rules.time();
        handles.rules.flush();
        *current = next;
        Some((version, time))
    }
}

/// Which rule-set version each worker has applied (see the module contract).
pub struct RuleAcks {
    posted: Mutex<Option<(u64, u64)>>,
    applied: Vec<AtomicU64>,
}

impl RuleAcks {
    /// Acknowledgements of `workers` workers, none yet.
    pub fn new(workers: usize) -> RuleAcks {
        RuleAcks {
            posted: Mutex::new(None),
            applied: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Version `version` went into the rule input at `time`.
    pub fn posted(&self, version: u64, time: u64) {
        if let Ok(mut posted) = self.posted.lock() {
            *posted = Some((version, time));
        }
    }

    /// Worker `worker` acknowledges the posted version if `still_pending(time)` is
    /// false (its probe is past the time the version was applied at).
    pub fn observe(&self, worker: usize, still_pending: impl Fn(u64) -> bool) {
        let posted = self.posted.lock().ok().and_then(|p| *p);
        if let (Some((version, time)), Some(slot)) = (posted, self.applied.get(worker)) {
            if !still_pending(time) {
                slot.fetch_max(version, Ordering::Relaxed);
            }
        }
    }

    /// The version each worker has applied (0: none).
    pub fn applied(&self) -> Vec<u64> {
        self.applied.iter().map(|a| a.load(Ordering::Relaxed)).collect()
    }
}
