//! Exact dry runs in the running embedded classifier.
//!
//! Contract: [`DryRuns::run`] evaluates a draft exactly as publishing it would: worker 0
//! inserts it into the rule collection as a hidden *shadow* segment (id prefix
//! [`SHADOW_PREFIX`]), next to a shadow copy of the live version, both at one time `t`;
//! the classifier computes their features from the kept history and evaluates every
//! user at `t`, as it does for any published edit. Every worker diverts the shadows'
//! membership changes here ([`DryRuns::is_shadow`], [`DryRuns::record`]) instead of the
//! change stream, sizes and partners; once every worker's output probe has passed `t`
//! ([`DryRuns::observe`]), the members of both shadows at `t` are known, the counts are
//! returned, and worker 0 retracts the shadows. One dry run runs at a time.
//!
//! What a shadow does not model is said in the answer's caveat: an exclusive group's
//! competition (a shadow is in no group), and a sticky live version's earlier members
//! (its shadow copy starts at `t`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use segstream_console::live::{DryRun, DRY_RUN_SAMPLE};
use segstream_rules::{SegmentDef, SegmentKind};

pub use segstream_dataflows::classifier::SHADOW_PREFIX;

#[derive(Default)]
struct Running {
    time: Option<u64>,
    draft_id: String,
    live_id: Option<String>,
    acked: Vec<bool>,
    members: HashMap<String, HashMap<String, i64>>,
    result: Option<DryRun>,
}

#[derive(Default)]
struct State {
    next: u64,
    to_insert: Vec<SegmentDef>,
    to_retract: Vec<SegmentDef>,
    inserted: Vec<SegmentDef>,
    running: Option<Running>,
}

/// Dry runs in flight (see the module contract).
pub struct DryRuns {
    serial: Mutex<()>,
    state: Mutex<State>,
    finished: Condvar,
    workers: usize,
}

/// A hidden copy of `def`: in no group, and with no parent (a parent takes in its
/// child's members, which would move a real segment).
pub fn shadow(def: &SegmentDef, id: String) -> SegmentDef {
    SegmentDef {
        id,
        group: None,
        priority: None,
        parent: None,
        ..def.clone()
    }
}

/// What a dry run of `draft` against `live` does not model, if anything.
pub fn caveat(draft: &SegmentDef, live: Option<&SegmentDef>) -> Option<String> {
    let mut notes = Vec::new();
    if draft.group.is_some() || live.is_some_and(|l| l.group.is_some()) {
        notes.push("the exclusive group's competition is not modelled (the draft is counted alone)");
    }
    if live.is_some_and(|l| l.kind == SegmentKind::Sticky) {
        notes.push("the live version is sticky: its members from before now are not counted as staying");
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

impl DryRuns {
    /// Dry runs over `workers` workers.
    pub fn new(workers: usize) -> DryRuns {
        DryRuns {
            serial: Mutex::new(()),
            state: Mutex::new(State::default()),
            finished: Condvar::new(),
            workers,
        }
    }

    /// Whether `segment` is a shadow (its changes belong here).
    pub fn is_shadow(segment: &str) -> bool {
        segstream_dataflows::classifier::is_shadow(segment)
    }

    /// Runs one dry run (see the module contract); `users` labels the answer.
    pub fn run(&self, draft: &SegmentDef, live: Option<&SegmentDef>, users: u64, timeout: Duration) -> Result<DryRun, String> {
        let _one_at_a_time = self.serial.lock().map_err(|_| "a dry run failed earlier".to_string())?;
        {
            let mut state = self.state.lock().map_err(|e| e.to_string())?;
            state.next += 1;
            let draft_id = format!("{SHADOW_PREFIX}{}_draft", state.next);
            let live_id = live.map(|_| format!("{SHADOW_PREFIX}{}_live", state.next));
            state.to_insert.push(shadow(draft, draft_id.clone()));
            if let (Some(live), Some(id)) = (live, &live_id) {
                state.to_insert.push(shadow(live, id.clone()));
            }
            state.running = Some(Running {
                draft_id,
                live_id,
                acked: vec![false; self.workers],
                ..Running::default()
            });
        }
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().map_err(|e| e.to_string())?;
        loop {
            if let Some(mut result) = state.running.as_mut().and_then(|r| r.result.take()) {
                state.running = None;
                result.users = users;
                result.caveat = caveat(draft, live);
                return Ok(result);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.running = None;
                state.to_insert.clear();
                let inserted = std::mem::take(&mut state.inserted);
                state.to_retract.extend(inserted);
                return Err("the classifier did not finish the dry run in time (is it far behind?)".into());
            }
            state = self.finished.wait_timeout(state, left).map_err(|e| e.to_string())?.0;
        }
    }

    /// Worker 0: the shadows to insert now at rule-input time `time` (the run is timed
    /// with them, under the same lock), and those to retract.
    pub fn take_rule_updates(&self, time: u64) -> (Vec<SegmentDef>, Vec<SegmentDef>) {
        let Ok(mut guard) = self.state.lock() else {
            return (Vec::new(), Vec::new());
        };
        let state = &mut *guard;
        let insert = std::mem::take(&mut state.to_insert);
        if !insert.is_empty() {
            if let Some(running) = state.running.as_mut() {
                running.time = Some(time);
            }
        }
        state.inserted.extend(insert.iter().cloned());
        (insert, std::mem::take(&mut state.to_retract))
    }

    /// Any worker: a shadow's membership change.
    pub fn record(&self, user: &str, segment: &str, tick: u64, diff: isize) {
        let Ok(mut state) = self.state.lock() else { return };
        let Some(running) = state.running.as_mut() else { return };
        let ours = segment == running.draft_id || running.live_id.as_deref() == Some(segment);
        if ours && running.time.is_some_and(|t| tick <= t) {
            let members = running.members.entry(segment.to_string()).or_default();
            *members.entry(user.to_string()).or_insert(0) += diff as i64;
        }
    }

    /// Any worker, after recording its changes: whether its probe has passed the
    /// shadows' time (`still_pending(t)` false); the last one finishes the run.
    pub fn observe(&self, worker: usize, still_pending: impl Fn(u64) -> bool) {
        let Ok(mut guard) = self.state.lock() else { return };
        let state = &mut *guard;
        let Some(running) = state.running.as_mut() else { return };
        let Some(time) = running.time else { return };
        if running.result.is_some() || still_pending(time) {
            return;
        }
        if let Some(acked) = running.acked.get_mut(worker) {
            *acked = true;
        }
        if running.acked.iter().all(|a| *a) {
            running.result = Some(Self::count(running, time));
            let inserted = std::mem::take(&mut state.inserted);
            state.to_retract.extend(inserted);
            self.finished.notify_all();
        }
    }

    fn count(running: &Running, time: u64) -> DryRun {
        let members = |id: Option<&str>| -> BTreeSet<&str> {
            id.and_then(|id| running.members.get(id))
                .map(|m| m.iter().filter(|(_, n)| **n > 0).map(|(u, _)| u.as_str()).collect())
                .unwrap_or_default()
        };
        counts(&members(Some(&running.draft_id)), &members(running.live_id.as_deref()), time)
    }
}

/// A dry run's counts from the members of the draft's and the live version's shadows
/// at `time` (`users` and `caveat` left for the caller).
pub fn counts(draft: &BTreeSet<&str>, live: &BTreeSet<&str>, time: u64) -> DryRun {
    DryRun {
        as_of_ms: time,
        matched: draft.len() as u64,
        entering: draft.difference(live).count() as u64,
        exiting: live.difference(draft).count() as u64,
        sample: draft.iter().take(DRY_RUN_SAMPLE).map(|u| u.to_string()).collect(),
        ..DryRun::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn def(id: &str) -> SegmentDef {
        SegmentDef {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            kind: SegmentKind::Dynamic,
            group: Some("g".into()),
            priority: Some(1),
            parent: Some("p".into()),
            when: "true".into(),
        }
    }

    /// Plays two workers: worker 0 inserts the shadows, both record and acknowledge.
    #[test]
    fn a_dry_run_counts_both_shadows_at_their_time_and_then_retracts_them() {
        let runs = Arc::new(DryRuns::new(2));
        let background = Arc::clone(&runs);
        let answer = std::thread::spawn(move || background.run(&def("new"), Some(&def("old")), 9, Duration::from_secs(20)));
        let inserted = loop {
            let (insert, _) = runs.take_rule_updates(100);
            if !insert.is_empty() {
                break insert;
            }
            std::thread::yield_now();
        };
        assert!(inserted
            .iter()
            .all(|d| DryRuns::is_shadow(&d.id) && d.group.is_none() && d.parent.is_none()));
        let (draft, live) = (inserted[0].id.clone(), inserted[1].id.clone());
        for (user, segment) in [("a", &draft), ("b", &draft), ("b", &live), ("c", &live)] {
            runs.record(user, segment, 100, 1);
        }
        runs.record("d", &draft, 200, 1); // after the run's time: not counted
        runs.observe(0, |t| t >= 100);
        runs.observe(0, |t| t < 100);
        runs.observe(1, |t| t < 100);
        let result = answer.join().unwrap().unwrap();
        assert_eq!((result.as_of_ms, result.matched, result.entering, result.exiting), (100, 2, 1, 1));
        assert_eq!((result.users, result.sample.clone()), (9, vec!["a".to_string(), "b".to_string()]));
        assert!(result.caveat.unwrap().contains("exclusive group"));
        let (_, retract) = runs.take_rule_updates(300);
        assert_eq!(retract.len(), 2, "both shadows go");
    }
}
