//! Running the classifier over bounded input to completion.
//!
//! Contract: [`run_bounded`] executes the dataflow on the given timely configuration
//! (threads, processes), with one [`EventSource`] per worker from `make_source(index,
//! peers)` and the side inputs of a [`SideInputs`] (sent by worker 0 at their ticks),
//! runs until every source is finished and every window has expired, and returns the
//! membership changes, consolidated and sorted. Rule snapshots become insertions and
//! removals of definitions at their ticks.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use differential_dataflow::consolidation::consolidate_updates;
use timely::dataflow::operators::Inspect;
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;

use crate::classifier::source::EventSource;
use crate::classifier::MembershipChange;
use crate::dataflow::{build, Handles, Shared};
use crate::operators::classify::MembershipUpdate;
use segstream_model::event::Row;
use segstream_rules::SegmentDef;

/// Profile, stats and rule inputs of a bounded run.
#[derive(Clone, Debug, Default)]
pub struct SideInputs {
    /// Rule snapshots: (tick, the full set in force from then on).
    pub rules: Vec<(u64, Vec<SegmentDef>)>,
    /// Profile upserts (tick, user, row or delete).
    pub profiles: Vec<(u64, String, Option<Row>)>,
    /// Stats upserts.
    pub stats: Vec<(u64, String, Option<Row>)>,
}

impl SideInputs {
    /// Sends every rule update, profile and stats upsert at its tick (one worker does).
    pub fn send(&self, handles: &mut Handles) {
        for (def, tick, diff) in snapshot_updates(&self.rules) {
            handles.rules.update_at(def, tick, diff);
        }
        for (tick, user, row) in &self.profiles {
            handles.profiles.send((user.clone(), row.clone(), *tick));
        }
        for (tick, user, row) in &self.stats {
            handles.stats.send((user.clone(), row.clone(), *tick));
        }
    }
}

/// Rule snapshots as differential updates `(def, tick, diff)`.
pub fn snapshot_updates(snapshots: &[(u64, Vec<SegmentDef>)]) -> Vec<(SegmentDef, u64, isize)> {
    let mut ordered: Vec<&(u64, Vec<SegmentDef>)> = snapshots.iter().collect();
    ordered.sort_by_key(|(tick, _)| *tick);
    let mut current: BTreeSet<SegmentDef> = BTreeSet::new();
    let mut updates = Vec::new();
    for (tick, defs) in ordered {
        let next: BTreeSet<SegmentDef> = defs.iter().cloned().collect();
        updates.extend(current.difference(&next).map(|d| (d.clone(), *tick, -1)));
        updates.extend(next.difference(&current).map(|d| (d.clone(), *tick, 1)));
        current = next;
    }
    updates
}

/// Runs to completion and returns every membership change (see the module contract).
pub fn run_bounded<S, F>(config: timely::Config, shared: Shared, side: SideInputs, make_source: F) -> Result<Vec<MembershipChange>, String>
where
    S: EventSource,
    F: Fn(usize, usize) -> S + Send + Sync + 'static,
{
    let collected: Arc<Mutex<Vec<MembershipUpdate>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&collected);
    let guards = timely::execute(config, move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let probe = ProbeHandle::new();
        let sink = Arc::clone(&sink);
        let built = worker.dataflow::<u64, _, _>(|scope| {
            build(scope, make_source(index, peers), &shared).map(|(handles, outputs)| {
                outputs
                    .membership
                    .inner
                    .inspect(move |update| {
                        if let Ok(mut all) = sink.lock() {
                            all.push(update.clone());
                        }
                    })
                    .probe_with(&probe);
                handles
            })
        });
        let mut handles = built?;
        if index == 0 {
            side.send(&mut handles);
        }
        drop(handles);
        while !probe.done() {
            worker.step();
        }
        Ok::<(), String>(())
    })?;
    for result in guards.join() {
        result??;
    }
    let mut updates = std::mem::take(&mut *collected.lock().map_err(|_| "a worker panicked".to_string())?);
    consolidate_updates(&mut updates);
    let mut changes: Vec<MembershipChange> = Vec::with_capacity(updates.len());
    for ((user, segment), tick, diff) in updates {
        if diff.abs() != 1 {
            return Err(format!("membership of {user:?} in {segment:?} changed by {diff} at {tick}"));
        }
        changes.push(MembershipChange::from_update(&user, &segment, tick, diff));
    }
    changes.sort();
    Ok(changes)
}
