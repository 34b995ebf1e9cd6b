//! Checkpoints of the engine against an uninterrupted run: engines run to a tick, save
//! their state (through its bytes), and new engines — as many, or more, or fewer — load
//! the key groups they own and run on. Their change stream, joined to the first
//! engines' before the tick, equals one run's without the stop: with any worker counts
//! when no user is evicted or eviction is invisible (rules without unwindowed
//! features), and with unwindowed rules and eviction when the count is unchanged.

mod classifier_common;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use classifier_common::cases::generated_event;
use classifier_common::*;
use proptest::prelude::*;
use segstream_dataflows::classifier::side_rows::{NoSideRows, SideRows};
use segstream_dataflows::classifier::{ClassifierConfig, Engine, EngineSnapshot, MembershipChange, SnapshotKind, UserInput};
use segstream_dataflows::user_key::owner;
use segstream_model::key_group::key_group;
use segstream_rules::{FieldValue, PackedRow, SegmentDef, UdfRegistry};

/// Users enough to fall in many key groups.
const USERS: usize = 24;

/// Everything that happens, by tick.
#[derive(Clone, Debug, Default)]
struct Timeline {
    config: ClassifierConfig,
    /// (user, input) by tick; upserts as the arrangements send them (old −1, new +1).
    inputs: BTreeMap<u64, Vec<(String, UserInput)>>,
    rules: BTreeMap<u64, Vec<(SegmentDef, isize)>>,
    /// Each user's profile and stats rows from each tick on.
    profiles: BTreeMap<String, Vec<(u64, Option<PackedRow>)>>,
    stats: BTreeMap<String, Vec<(u64, Option<PackedRow>)>>,
}

/// The rows of the users a worker owns, as the arrangements answer.
struct OwnedRows<'a> {
    timeline: &'a Timeline,
    owns: Box<dyn Fn(&str) -> bool + 'a>,
}

fn in_force(history: Option<&Vec<(u64, Option<PackedRow>)>>, tick: u64) -> Option<PackedRow> {
    history?.iter().rev().find(|(at, _)| *at < tick).and_then(|(_, row)| row.clone())
}

impl SideRows for OwnedRows<'_> {
    fn rows_before(&mut self, user: &str, tick: u64) -> (Option<PackedRow>, Option<PackedRow>) {
        (
            in_force(self.timeline.profiles.get(user), tick),
            in_force(self.timeline.stats.get(user), tick),
        )
    }

    fn users_after(&mut self, tick: u64, after: Option<&str>, limit: usize) -> Vec<String> {
        let users: BTreeSet<&str> = self
            .timeline
            .profiles
            .keys()
            .chain(self.timeline.stats.keys())
            .map(String::as_str)
            .collect();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        users
            .range::<&str, _>((from, Bound::Unbounded))
            .filter(|user| (self.owns)(user) && self.rows_before(user, tick) != (None, None))
            .take(limit)
            .map(|user| user.to_string())
            .collect()
    }
}

fn new_engines(config: ClassifierConfig, workers: usize) -> Vec<Engine> {
    (0..workers)
        .map(|_| Engine::new(Arc::new(schema()), Arc::new(UdfRegistry::new()), config).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Runs `engines` (worker `w` owning the key groups `owner` gives it) over the ticks in
/// `from..until` and their timers; the changes, sorted.
fn run(engines: &mut [Engine], timeline: &Timeline, from: u64, until: u64) -> Vec<MembershipChange> {
    run_walking(engines, timeline, from, until, (0, &mut []))
}

/// [`run`], and after each tick an engine with a snapshot in progress saves `budget`
/// entries of it; a finished snapshot goes to `taken[worker]`.
fn run_walking(
    engines: &mut [Engine],
    timeline: &Timeline,
    from: u64,
    until: u64,
    (budget, taken): (usize, &mut [Option<Vec<u8>>]),
) -> Vec<MembershipChange> {
    let workers = engines.len();
    let mut changes = Vec::new();
    for (worker, engine) in engines.iter_mut().enumerate() {
        let owns = move |user: &str| owner(key_group(user), workers) == worker;
        let mut rows = OwnedRows {
            timeline,
            owns: Box::new(owns),
        };
        let mut ticks: BTreeSet<u64> = timeline.inputs.keys().chain(timeline.rules.keys()).copied().collect();
        ticks.retain(|t| (from..until).contains(t));
        loop {
            let next = [ticks.first().copied(), engine.next_timer()].into_iter().flatten().min();
            let Some(tick) = next.filter(|t| *t < until) else { break };
            ticks.remove(&tick);
            let inputs = timeline
                .inputs
                .get(&tick)
                .into_iter()
                .flatten()
                .filter(|(user, _)| owns(user))
                .cloned()
                .collect();
            let rules = timeline.rules.get(&tick).cloned().unwrap_or_default();
            engine.process_tick(tick, rules, inputs, &mut rows, &mut changes);
            if let Some(done) = engine.continue_snapshot(budget, &mut rows) {
                taken[worker] = Some(done.unwrap_or_else(|e| panic!("{e}")).into_bytes());
            }
        }
    }
    changes.sort();
    changes
}

/// The snapshots `engines` have in progress, finished at once where `taken` has none.
fn finish_walks(engines: &mut [Engine], taken: Vec<Option<Vec<u8>>>) -> Result<Vec<Vec<u8>>, String> {
    engines
        .iter_mut()
        .zip(taken)
        .map(|(engine, taken)| match taken {
            Some(bytes) => Ok(bytes),
            None => engine
                .continue_snapshot(usize::MAX, &mut NoSideRows)
                .unwrap_or_else(|| Err("not finished".into()))
                .map(|s| s.into_bytes()),
        })
        .collect()
}

/// Where a run with checkpoints stops: a full snapshot at the first tick and, at the
/// second if any, an incremental one on it.
type Stops = (u64, Option<u64>);

/// Runs to `stop` on `before` workers, begins a full snapshot and runs on, saving
/// `budget` entries of it after each tick (its copy-on-write at work) — and, with a
/// second stop, an incremental snapshot from there, saved alike; restores on `after`
/// workers from the last snapshot (its chain) and runs on from its tick. The changes
/// of the restored run and of the first engines run on, each joined to the changes
/// before the restore.
fn run_with_checkpoint(
    timeline: &Timeline,
    (stop, then): Stops,
    (before, after): (usize, usize),
    budget: usize,
) -> Result<(Vec<MembershipChange>, Vec<MembershipChange>), String> {
    let mut first = new_engines(timeline.config, before);
    let mut changes = run(&mut first, timeline, 0, stop);
    let mut chains: Vec<Vec<Vec<u8>>> = vec![Vec::new(); before];
    let mut restore_at = stop;
    for (at, kind) in [(Some(stop), SnapshotKind::Full), (then, SnapshotKind::Incremental)] {
        let Some(at) = at else { continue };
        for engine in &mut first {
            engine.begin_snapshot(at, kind)?;
        }
        restore_at = at;
        let mut taken: Vec<Option<Vec<u8>>> = vec![None; before];
        let until = if kind == SnapshotKind::Full {
            then.unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        let went = run_walking(&mut first, timeline, at, until, (budget, &mut taken));
        for (chain, part) in chains.iter_mut().zip(finish_walks(&mut first, taken)?) {
            chain.push(part);
        }
        changes.extend(went);
    }
    changes.sort();
    let went_on = changes.clone();
    drop(first);
    let mut second = new_engines(timeline.config, after);
    for (worker, engine) in second.iter_mut().enumerate() {
        let snapshots = chains
            .iter()
            .map(|chain| EngineSnapshot::from_chain(chain.iter().map(Vec::as_slice)))
            .collect::<Result<_, _>>()?;
        engine.restore(snapshots, |group| owner(group, after) == worker)?;
    }
    let mut restored: Vec<MembershipChange> = went_on.iter().filter(|c| c.time < restore_at).cloned().collect();
    restored.extend(run(&mut second, timeline, restore_at, u64::MAX));
    restored.sort();
    Ok((restored, went_on))
}

fn user(n: usize) -> String {
    format!("user-{}", n % USERS)
}

type Upsert = (usize, u64, Option<bool>);

/// Upserts at ticks, as the arrangements would send them, and each user's history.
fn add_upserts(timeline: &mut Timeline, upserts: Vec<Upsert>, stats: bool) {
    let mut current: BTreeMap<String, PackedRow> = BTreeMap::new();
    let mut sorted = upserts;
    sorted.sort_by_key(|(who, at, _)| (*at, *who));
    sorted.dedup_by_key(|(who, at, _)| (*at, *who));
    for (who, at, value) in sorted {
        let (user, tick) = (user(who), at * 100);
        let row = value.map(|flag| {
            let fields = if stats {
                vec![Some(FieldValue::Bool(flag)), Some(FieldValue::Double(if flag { 0.9 } else { 0.2 }))]
            } else {
                vec![None, Some(FieldValue::Str(if flag { "female" } else { "male" }.into()))]
            };
            PackedRow::from_owned_slots(fields)
        });
        let wrap = if stats { UserInput::Stats } else { UserInput::Profile };
        let inputs = timeline.inputs.entry(tick).or_default();
        if let Some(old) = current.remove(&user) {
            inputs.push((user.clone(), wrap(old, -1)));
        }
        if let Some(new) = row.clone() {
            inputs.push((user.clone(), wrap(new.clone(), 1)));
            current.insert(user.clone(), new);
        }
        let histories = if stats { &mut timeline.stats } else { &mut timeline.profiles };
        histories.entry(user).or_default().push((tick, row));
    }
}

fn timeline(user_ttl_ms: u64, proof: bool) -> impl Strategy<Value = Timeline> {
    let resent = proptest::option::weighted(0.2, 0u64..300_000);
    let events = proptest::collection::vec((0usize..USERS, 0usize..5, 0u64..900_000, 0usize..30, resent), 0..80);
    let upserts = || {
        proptest::collection::vec(
            (0usize..USERS, 0u64..9_000, proptest::option::weighted(0.8, proptest::bool::ANY)),
            0..10,
        )
    };
    let edit_at = proptest::option::weighted(0.5, 1u64..9_000);
    (events, upserts(), upserts(), edit_at).prop_map(move |(events, profiles, stats, edit_at)| {
        let config = ClassifierConfig { user_ttl_ms, ..config() };
        let mut timeline = Timeline {
            config,
            ..Timeline::default()
        };
        for (n, (who, kind, time, pick, resent)) in events.into_iter().enumerate() {
            let e = generated_event(&schema(), n, &user(who), kind, time, pick);
            // A client's retry: the same event again, later (it applies once).
            if let Some(after) = resent {
                let again = config.tick_of(time + after);
                timeline
                    .inputs
                    .entry(again)
                    .or_default()
                    .push((e.user.clone(), UserInput::Event(e.clone())));
            }
            timeline
                .inputs
                .entry(config.tick_of(time))
                .or_default()
                .push((e.user.clone(), UserInput::Event(e)));
        }
        add_upserts(&mut timeline, profiles, false);
        add_upserts(&mut timeline, stats, true);
        let keep = |defs: Vec<SegmentDef>| -> Vec<SegmentDef> {
            let unwindowed = ["last(", "first_seen(", "last_seen(", "now()"];
            defs.into_iter()
                .filter(|d| !proof || !unwindowed.iter().any(|f| d.when.contains(f)))
                .collect()
        };
        let base = keep(base_rules());
        timeline.rules.insert(0, base.iter().map(|d| (d.clone(), 1)).collect());
        if let Some(at) = edit_at {
            let mut edit: Vec<(SegmentDef, isize)> = base.iter().map(|d| (d.clone(), -1)).collect();
            edit.extend(keep(edited_rules()).into_iter().map(|d| (d, 1)));
            timeline.rules.insert(at * 100, edit);
        }
        timeline
    })
}

/// The user TTL of the eviction cases: shorter than most gaps between a user's inputs.
const EVICTION_TTL: u64 = 20_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_run_equals_an_uninterrupted_one_on_any_worker_counts(
        timeline in timeline(0, false), stops in stops(), before in 1usize..5, after in 1usize..5, budget in budgets(),
    ) {
        let expected = run(&mut new_engines(timeline.config, 1), &timeline, 0, u64::MAX);
        let (restored, went_on) = run_with_checkpoint(&timeline, stops, (before, after), budget).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&restored, &expected, "{} workers, then {}, stops {:?}, {} a tick", before, after, stops, budget);
        prop_assert_eq!(went_on, expected, "the engines saving went on unchanged");
    }

    #[test]
    fn with_eviction_a_restored_run_equals_an_uninterrupted_one_on_the_same_workers(
        timeline in timeline(EVICTION_TTL, false), stops in stops(), workers in 1usize..4, budget in budgets(),
    ) {
        let expected = run(&mut new_engines(timeline.config, workers), &timeline, 0, u64::MAX);
        let (restored, went_on) = run_with_checkpoint(&timeline, stops, (workers, workers), budget).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&restored, &expected, "{} workers, stops {:?}, {} a tick", workers, stops, budget);
        prop_assert_eq!(went_on, expected, "the engines saving went on unchanged");
    }

    #[test]
    fn with_invisible_eviction_a_restored_run_equals_an_uninterrupted_one_on_any_worker_counts(
        timeline in timeline(EVICTION_TTL, true), stops in stops(), before in 1usize..5, after in 1usize..5, budget in budgets(),
    ) {
        let expected = run(&mut new_engines(timeline.config, 1), &timeline, 0, u64::MAX);
        let (restored, went_on) = run_with_checkpoint(&timeline, stops, (before, after), budget).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&restored, &expected, "{} workers, then {}, stops {:?}, {} a tick", before, after, stops, budget);
        prop_assert_eq!(went_on, expected, "the engines saving went on unchanged");
    }
}

/// A full snapshot's tick and, half the time, an incremental one's after it.
fn stops() -> impl Strategy<Value = Stops> {
    (0u64..9_500, proptest::option::of(1u64..4_000)).prop_map(|(stop, then)| (stop * 100, then.map(|gap| (stop + gap) * 100)))
}

/// Entries a snapshot saves after each tick: a few (the walk spans many ticks, and
/// most entries are saved by copy-on-write), or all at once.
fn budgets() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..6, Just(usize::MAX)]
}

/// The cases are not vacuous: they hold users, remembered ids and evictions at the stop.
#[test]
fn the_snapshots_hold_users_ids_and_dormant_records() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut users, mut evicted) = (0, 0);
    for _ in 0..16 {
        let Ok(tree) = timeline(EVICTION_TTL, false).new_tree(&mut runner) else {
            continue;
        };
        let timeline = tree.current();
        let mut engines = new_engines(timeline.config, 2);
        run(&mut engines, &timeline, 0, 500_000);
        for engine in &engines {
            let snapshot = engine.snapshot(500_000, &mut NoSideRows).unwrap_or_else(|e| panic!("{e}"));
            users += snapshot.user_count();
            evicted += engine.counters.evictions;
        }
    }
    assert!(users >= 100 && evicted >= 20, "{users} users, {evicted} evicted");
}
