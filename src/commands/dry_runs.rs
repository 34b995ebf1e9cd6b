//! Exact dry runs in a distributed deployment: `segstream console` asks, every
//! `segstream classify` process answers for its workers' users.
//!
//! Contract: the console asks a question of kind [`KIND`] ([`super::questions`]) with
//! the draft and the live version (JSON). Process 0's worker 0, which owns the rule
//! input, inserts them as hidden shadows ([`shadow`], ids named after the question) at
//! its rule-input time `t` — never at the time a published set goes in — and process 0
//! writes `t` into the answers (field `time`). Every worker of every process diverts the
//! shadows' membership changes from the changes topic, the profile store, sizes and
//! moves into its process's [`Shadows`]. Once the process's durable frontier has passed
//! `t`, every worker has evaluated every user at `t`, so each process answers with the
//! counts over its users ([`ProcessRun`]); process 0 then retracts the shadows. Workers
//! hold disjoint users, so the console adds the parts up ([`DryRun::absorb`]) once they
//! cover every worker the deployment acknowledged. One dry run runs at a time per
//! process; a failed one answers with its reason.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segstream_console::live::DryRun;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_embedded::dry_run::{caveat, counts, shadow, SHADOW_PREFIX};
use segstream_redis::questions::{answer, answers};
use segstream_redis::Retrying;
use segstream_rules::SegmentDef;
use serde::{Deserialize, Serialize};

use super::questions::{ask_and_wait, covered, missing, parts, spawn_follower, Answers, Fields};

/// The kind of question.
const KIND: &str = "dry-runs";
/// How long a process works on one dry run.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a process looks at its progress.
const PROGRESS_POLL: Duration = Duration::from_millis(10);

/// One process's part of a dry run.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessRun {
    /// The workers of the process.
    pub workers: u64,
    /// Its counts, or why it has none.
    pub run: Result<DryRun, String>,
}

/// A question's shadow ids: the draft's and the live version's.
fn shadow_ids(question: &str) -> (String, String) {
    let name = question.replace('-', "_");
    (format!("{SHADOW_PREFIX}{name}_draft"), format!("{SHADOW_PREFIX}{name}_live"))
}

/// One process's shadows and their changes (see the module contract).
#[derive(Default)]
pub struct Shadows {
    state: Mutex<ShadowState>,
}

/// A shadow's membership change: (user, tick, diff).
type ShadowChange = (String, u64, isize);

#[derive(Default)]
struct ShadowState {
    /// Shadows to insert, by question.
    to_insert: Vec<(String, Vec<SegmentDef>)>,
    /// When worker 0 inserted a question's shadows.
    inserted_at: HashMap<String, u64>,
    to_retract: Vec<SegmentDef>,
    /// Changes of open shadows: when the first came, and the changes.
    changes: HashMap<String, (Instant, Vec<ShadowChange>)>,
    /// Shadows whose run is over (their later changes are dropped), oldest first.
    closed: VecDeque<String>,
}

/// How many closed shadows are remembered (their retraction comes a few ticks later).
const CLOSED_KEPT: usize = 256;
/// How long the changes of a shadow no question here claims are kept (one this process
/// started too late to see the question of).
const UNCLAIMED_KEPT: Duration = Duration::from_secs(120);

impl Shadows {
    /// Worker 0: the shadows to insert at rule-input time `now` and those to retract.
    pub fn take_rule_updates(&self, now: u64) -> (Vec<SegmentDef>, Vec<SegmentDef>) {
        let Ok(mut guard) = self.state.lock() else {
            return (Vec::new(), Vec::new());
        };
        let state = &mut *guard;
        let mut insert = Vec::new();
        for (question, defs) in state.to_insert.drain(..) {
            state.inserted_at.insert(question, now);
            insert.extend(defs);
        }
        (insert, std::mem::take(&mut state.to_retract))
    }

    /// Any worker: a shadow's membership change.
    pub fn record(&self, user: &str, segment: &str, tick: u64, diff: isize) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.closed.iter().any(|c| c == segment) {
            return;
        }
        if !state.changes.contains_key(segment) {
            state.changes.retain(|_, (first, _)| first.elapsed() < UNCLAIMED_KEPT);
        }
        let entry = state
            .changes
            .entry(segment.to_string())
            .or_insert_with(|| (Instant::now(), Vec::new()));
        entry.1.push((user.to_string(), tick, diff));
    }

    fn post(&self, question: &str, defs: Vec<SegmentDef>) {
        if let Ok(mut state) = self.state.lock() {
            state.to_insert.push((question.to_string(), defs));
        }
    }

    fn inserted_at(&self, question: &str) -> Option<u64> {
        self.state.lock().ok()?.inserted_at.get(question).copied()
    }

    /// The members of shadow `id` at `time`.
    fn members_at(&self, id: &str, time: u64) -> BTreeSet<String> {
        let Ok(state) = self.state.lock() else { return BTreeSet::new() };
        let mut counts: HashMap<&str, isize> = HashMap::new();
        for (user, tick, diff) in state.changes.get(id).into_iter().flat_map(|(_, changes)| changes) {
            if *tick <= time {
                *counts.entry(user.as_str()).or_default() += diff;
            }
        }
        counts.into_iter().filter(|(_, n)| *n > 0).map(|(u, _)| u.to_string()).collect()
    }

    /// Ends a question's run: its shadows' changes are dropped, and process 0 retracts
    /// them (or takes them back if worker 0 never inserted them).
    fn close(&self, question: &str, retract: Vec<SegmentDef>) {
        let Ok(mut guard) = self.state.lock() else { return };
        let state = &mut *guard;
        let (draft, live) = shadow_ids(question);
        for id in [draft, live] {
            state.changes.remove(&id);
            state.closed.push_back(id);
        }
        while state.closed.len() > CLOSED_KEPT {
            state.closed.pop_front();
        }
        state.to_insert.retain(|(q, _)| q != question);
        if state.inserted_at.remove(question).is_some() {
            state.to_retract.extend(retract);
        }
    }
}

pub use segstream_dataflows::classifier::is_shadow;

/// What a process answering dry runs works with.
pub struct DryRunHost {
    /// This process's index (0 inserts the shadows).
    pub process: usize,
    /// Its workers.
    pub workers: u64,
    /// Its shadows.
    pub shadows: Arc<Shadows>,
    /// Its counters (durable frontier, users held).
    pub metrics: Arc<ClassifierMetrics>,
}

fn borrowed(set: &BTreeSet<String>) -> BTreeSet<&str> {
    set.iter().map(String::as_str).collect()
}

/// Polls `ready` until it gives a value or `deadline` passes (`what` names the wait).
fn wait_for<T>(deadline: Instant, what: &str, mut ready: impl FnMut() -> Result<Option<T>, String>) -> Result<T, String> {
    loop {
        if let Some(value) = ready()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(PROGRESS_POLL);
    }
}

impl DryRunHost {
    /// This process's part of the dry run `question`.
    fn run(&self, redis: &mut Retrying, group: &str, question: &str, fields: &Fields) -> Result<DryRun, String> {
        let parse = |name: &str| {
            fields
                .get(name)
                .map(|text| serde_json::from_str::<SegmentDef>(text).map_err(|e| format!("{name}: {e}")))
        };
        let draft = parse("draft").ok_or("the question has no draft")??;
        let live = parse("live").transpose()?;
        let (draft_id, live_id) = shadow_ids(question);
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let rule_errors_before = ClassifierMetrics::get(&self.metrics.rule_errors);
        let time = if self.process == 0 {
            let mut defs = vec![shadow(&draft, draft_id.clone())];
            defs.extend(live.as_ref().map(|l| shadow(l, live_id.clone())));
            self.shadows.post(question, defs);
            let time = wait_for(deadline, "worker 0 to insert the shadows", || {
                Ok(self.shadows.inserted_at(question))
            })?;
            answer(redis, group, KIND, question, "time", &time.to_string())?;
            time
        } else {
            // A failed read is tried again until the deadline.
            wait_for(deadline, "process 0 to insert the shadows", || {
                let answers = answers(redis, group, KIND, question).unwrap_or_default();
                Ok(answers.get("time").and_then(|t| t.parse().ok()))
            })?
        };
        let frontier = || self.metrics.durable_frontier_ms.load(Ordering::Acquire);
        wait_for(deadline, "the classifier to pass the dry run's time", || {
            Ok((frontier() > time).then_some(()))
        })?;
        if ClassifierMetrics::get(&self.metrics.rule_errors) > rule_errors_before {
            return Err("the classifier refused the draft next to the rules in force (its log says why)".into());
        }
        let draft_members = self.shadows.members_at(&draft_id, time);
        let live_members = match live {
            Some(_) => self.shadows.members_at(&live_id, time),
            None => BTreeSet::new(),
        };
        let mut part = counts(&borrowed(&draft_members), &borrowed(&live_members), time);
        let totals = self.metrics.totals();
        part.users = totals.users + totals.dormant_users;
        Ok(part)
    }
}

/// Answers dry runs for this process's workers until it ends (see the module contract).
pub fn spawn_responder(url: &str, group: &str, host: DryRunHost) -> Result<(), String> {
    let owned_group = group.to_string();
    spawn_follower(url, group, KIND, move |redis, question, fields| {
        let run = host.run(redis, &owned_group, question, fields);
        let (draft_id, live_id) = shadow_ids(question);
        host.shadows.close(question, shadow_defs(fields, &draft_id, &live_id));
        let part = ProcessRun {
            workers: host.workers,
            run,
        };
        let text = serde_json::to_string(&part).map_err(|e| format!("encoding an answer: {e}"))?;
        answer(redis, &owned_group, KIND, question, &host.process.to_string(), &text)
    })
}

/// The shadows a question inserted, rebuilt from its fields (to retract them).
fn shadow_defs(fields: &Fields, draft_id: &str, live_id: &str) -> Vec<SegmentDef> {
    [("draft", draft_id), ("live", live_id)]
        .into_iter()
        .filter_map(|(name, id)| {
            let def: SegmentDef = serde_json::from_str(fields.get(name)?).ok()?;
            Some(shadow(&def, id.to_string()))
        })
        .collect()
}

/// Runs a dry run across the deployment's `workers` workers (see the module contract).
pub fn dry_run(
    redis: &mut Retrying,
    group: &str,
    (draft, live): (&SegmentDef, Option<&SegmentDef>),
    workers: Option<u64>,
    timeout: Duration,
) -> Result<DryRun, String> {
    let encode = |def: &SegmentDef| serde_json::to_string(def).map_err(|e| format!("encoding the draft: {e}"));
    let draft_text = encode(draft)?;
    let live_text = live.map(encode).transpose()?;
    let mut fields = vec![("draft", draft_text.as_str())];
    fields.extend(live_text.as_deref().map(|l| ("live", l)));
    let mut outcome = ask_and_wait(redis, (group, KIND), &fields, timeout, |answers| {
        let mut total = DryRun::default();
        let mut answered = 0;
        // Every process's part is needed: one that failed fails the dry run.
        for (process, part) in parts::<ProcessRun>(answers)? {
            total.absorb(part.run.map_err(|e| format!("classifier process {process}: {e}"))?);
            answered += part.workers;
        }
        match covered(answered, workers) {
            true => Ok(Answers::Complete(total)),
            false => Ok(Answers::Missing(missing(answered, workers, "the dry run"))),
        }
    })?;
    outcome.caveat = caveat(draft, live);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str) -> SegmentDef {
        SegmentDef {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            kind: segstream_rules::SegmentKind::Dynamic,
            group: None,
            priority: None,
            parent: None,
            when: "true".into(),
        }
    }

    #[test]
    fn shadows_count_their_members_at_their_time_and_are_retracted_once_closed() {
        let shadows = Shadows::default();
        let (draft, live) = shadow_ids("17-0");
        let defs = vec![shadow(&def("new"), draft.clone()), shadow(&def("old"), live.clone())];
        shadows.post("17-0", defs.clone());
        assert_eq!(shadows.inserted_at("17-0"), None);
        assert_eq!(shadows.take_rule_updates(500), (defs.clone(), Vec::new()));
        assert_eq!(shadows.inserted_at("17-0"), Some(500));
        for (user, segment, tick, diff) in [
            ("a", &draft, 500, 1),
            ("b", &draft, 500, 1),
            ("b", &draft, 600, -1),
            ("c", &live, 500, 1),
        ] {
            shadows.record(user, segment, tick, diff);
        }
        assert_eq!(shadows.members_at(&draft, 500), BTreeSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(shadows.members_at(&draft, 600), BTreeSet::from(["a".to_string()]));
        shadows.close("17-0", defs.clone());
        assert_eq!(shadows.take_rule_updates(700), (Vec::new(), defs), "inserted, so retracted");
        shadows.record("d", &draft, 700, -1);
        assert!(shadows.members_at(&draft, 900).is_empty(), "a closed shadow's changes are dropped");
    }

    #[test]
    fn a_run_closed_before_worker_0_took_it_is_never_inserted() {
        let shadows = Shadows::default();
        let (draft, _) = shadow_ids("18-0");
        let defs = vec![shadow(&def("new"), draft)];
        shadows.post("18-0", defs.clone());
        shadows.close("18-0", defs);
        assert_eq!(shadows.take_rule_updates(500), (Vec::new(), Vec::new()));
    }
}
