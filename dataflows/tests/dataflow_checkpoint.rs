//! Checkpoints of the whole dataflow against an uninterrupted run: the timely
//! classifier runs over random cases (late and duplicated events, profile and stats
//! upserts, a rule edit) with checkpoint requests; a second run restored from one of
//! them — its engines from every worker's snapshot by key group, its sources from each
//! partition's resume point — on another number of workers, given all the events and
//! rules again but only the profile and stats upserts from the checkpoint's tick on,
//! produces exactly the uninterrupted run's changes from the checkpoint's tick on.

mod classifier_common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use classifier_common::cases::*;
use classifier_common::*;
use differential_dataflow::consolidation::consolidate_updates;
use proptest::prelude::*;
use segstream_dataflows::classifier::emitted::ResumePoint;
use segstream_dataflows::classifier::source::{EventSource, VecSource};
use segstream_dataflows::classifier::{EngineSnapshot, MembershipChange, SnapshotKind};
use segstream_dataflows::dataflow::{build_with, Checkpointing, Restore};
use segstream_dataflows::operators::classify::{CheckpointStep, MembershipUpdate};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

/// What a run saved for each checkpoint tick: every worker's snapshot, and every
/// partition's resume point.
#[derive(Default)]
struct Saved {
    snapshots: BTreeMap<u64, Vec<EngineSnapshot>>,
    /// Whether the output's frontier had passed the checkpoint's tick when each began.
    passed_when_begun: Vec<bool>,
    points: BTreeMap<u64, BTreeMap<u32, ResumePoint>>,
}

/// Runs `case` on `workers`, asking for checkpoints at `requests`, optionally restored;
/// the changes and what was saved.
fn run(case: &Case, workers: usize, requests: Vec<u64>, restore: Option<Restore>) -> Result<(Vec<MembershipChange>, Saved), String> {
    let partitions = Arc::new(partitioned(&case.arrivals));
    let scenario = case.scenario.clone();
    let mut side = side_inputs(&scenario);
    if let Some(restore) = &restore {
        // As a restart reading the side topics from the checkpoint's offsets: the rows
        // before the checkpoint come from the snapshots (every held and dormant user's).
        side.profiles.retain(|(tick, ..)| *tick >= restore.as_of);
        side.stats.retain(|(tick, ..)| *tick >= restore.as_of);
    }
    let collected: Arc<Mutex<Vec<MembershipUpdate>>> = Arc::default();
    let saved: Arc<Mutex<Saved>> = Arc::default();
    let (output, saving) = (Arc::clone(&collected), Arc::clone(&saved));
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let points = restore.as_ref().map(|r| r.points.clone()).unwrap_or_default();
        let source = Rc::new(RefCell::new(VecSource::resumed(&partitions, index, peers, &points)));
        let store = Arc::clone(&saving);
        let probe = ProbeHandle::new();
        let output_frontier = probe.clone();
        let checkpointing = Checkpointing {
            restore: restore.clone(),
            save: Box::new(move |step: CheckpointStep| {
                if let Ok(mut saved) = store.lock() {
                    match step {
                        CheckpointStep::Began(as_of) => saved.passed_when_begun.push(!output_frontier.less_equal(&as_of)),
                        CheckpointStep::Taken(encoded, _) => match EngineSnapshot::from_bytes(&encoded.chunks.concat()) {
                            Ok(snapshot) => saved.snapshots.entry(encoded.as_of).or_default().push(snapshot),
                            Err(e) => panic!("{e}"),
                        },
                    }
                }
            }),
        };
        let out = Arc::clone(&output);
        let shared = shared(schema(), scenario.config, 5);
        let built = worker.dataflow::<u64, _, _>(|scope| {
            build_with(scope, Rc::clone(&source), &shared, checkpointing).map(|(handles, outputs)| {
                outputs
                    .membership
                    .inner
                    .inspect(move |update| out.lock().map(|mut all| all.push(update.clone())).unwrap_or(()))
                    .probe_with(&probe);
                handles
            })
        });
        let mut handles = built?;
        if index == 0 {
            side.send(&mut handles);
            for at in &requests {
                handles.checkpoints.send((*at, SnapshotKind::Full));
            }
        }
        drop(handles);
        while !probe.done() {
            worker.step();
        }
        let source = source.borrow();
        if let Ok(mut saved) = saving.lock() {
            for at in &requests {
                for partition in source.partitions() {
                    if let Some(point) = source.resume_point(partition, *at) {
                        saved.points.entry(*at).or_default().insert(partition, point);
                    }
                }
            }
        }
        Ok::<(), String>(())
    })?;
    for result in guards.join() {
        result??;
    }
    let mut updates = std::mem::take(&mut *collected.lock().map_err(|_| "a worker panicked")?);
    consolidate_updates(&mut updates);
    let mut changes: Vec<MembershipChange> = updates
        .into_iter()
        .map(|((user, segment), tick, diff)| MembershipChange::from_update(&user, &segment, tick, diff))
        .collect();
    changes.sort();
    let saved = std::mem::take(&mut *saved.lock().map_err(|_| "a worker panicked")?);
    Ok((changes, saved))
}

fn restored_run_equals_the_uninterrupted_one(case: &Case, at: u64, before: usize, after: usize) -> Result<(), TestCaseError> {
    let (expected, mut saved) = run(case, before, vec![at], None).map_err(TestCaseError::fail)?;
    let snapshots = saved.snapshots.remove(&at).unwrap_or_default();
    prop_assert_eq!(snapshots.len(), before, "a snapshot from every worker");
    prop_assert!(
        !saved.passed_when_begun.iter().any(|passed| *passed),
        "the output waited for every snapshot to begin"
    );
    let restore = Restore {
        as_of: at,
        snapshots,
        points: saved.points.remove(&at).unwrap_or_default(),
    };
    let (resumed, _) = run(case, after, Vec::new(), Some(restore)).map_err(TestCaseError::fail)?;
    let from_the_checkpoint: Vec<MembershipChange> = expected.iter().filter(|c| c.time >= at).cloned().collect();
    prop_assert_eq!(resumed, from_the_checkpoint, "{} workers, then {}, from tick {}", before, after, at);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_dataflow_equals_the_uninterrupted_one(
        case in case(false), at in 0u64..9_500, before in 1usize..4, after in 1usize..4,
    ) {
        restored_run_equals_the_uninterrupted_one(&case, at * 100, before, after)?;
    }

    #[test]
    fn with_evictions_a_restored_dataflow_equals_the_uninterrupted_one(
        case in case_with_eviction(), at in 0u64..9_500, before in 1usize..4, after in 1usize..4,
    ) {
        restored_run_equals_the_uninterrupted_one(&case, at * 100, before, after)?;
    }

    #[test]
    fn with_late_events_a_restored_dataflow_equals_the_uninterrupted_one(
        case in case(true), at in 0u64..9_500, before in 1usize..4, after in 1usize..4,
    ) {
        restored_run_equals_the_uninterrupted_one(&case, at * 100, before, after)?;
    }
}

/// The restored runs resume mid-stream: some partitions restart past their beginning,
/// and the snapshots hold users.
#[test]
fn checkpoints_hold_users_and_resume_partitions_mid_stream() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut users, mut resumed_mid_stream) = (0, 0);
    for _ in 0..8 {
        let Ok(tree) = case(true).new_tree(&mut runner) else { continue };
        let case = tree.current();
        let (_, saved) = run(&case, 2, vec![300_000], None).unwrap_or_else(|e| panic!("{e}"));
        users += saved.snapshots.values().flatten().map(EngineSnapshot::user_count).sum::<usize>();
        resumed_mid_stream += saved.points.values().flat_map(|p| p.values()).filter(|p| p.offset > 0).count();
    }
    assert!(
        users >= 16 && resumed_mid_stream >= 8,
        "{users} users, {resumed_mid_stream} partitions resumed mid-stream"
    );
}
