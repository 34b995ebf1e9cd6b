//! The classify operator: hosts one [`Engine`] per worker.
//!
//! Contract: input 1 carries `(user, UserInput, tick)` records and is exchanged by the
//! user's key group exactly as differential exchanges the profile and stats
//! arrangements ([`UserKey`]: every input of a user reaches the worker holding its
//! rows, the owner of its key group); input 2 carries [`Control`] records broadcast to
//! every worker: rule updates `(Rule(def, diff), tick)` and checkpoint requests
//! `(Checkpoint, tick)`. Inputs are stashed by tick; a
//! tick is processed once both input frontiers have passed it, in increasing order,
//! together with the engine's window-expiry timers at that tick. Output: membership
//! updates `((user, segment), tick, ±1)` — a differential collection of current
//! memberships. The operator holds one capability, at the earliest pending tick
//! (stashed input, timer, or a checkpoint request not yet taken: nothing downstream,
//! the durable frontier included, passes a checkpoint's tick before its snapshot is
//! taken), and releases it when nothing is pending. It works at most
//! a few milliseconds per activation, so that a backlog of complete ticks does not hold
//! back the changes of the first ones; a rule change's pass over every user continues
//! over as many activations as it needs, holding its tick (lookups wait for it). It holds the profile and stats arrangements'
//! traces, for the users the engine builds ([`TraceRows`]), and lets them compact up
//! to the last tick processed. Between steps it answers [`UserLookups`] from the
//! engine's state at the last tick processed (lookups wake it through a thread-safe
//! activator).
//!
//! Checkpoints ([`Checkpoints`]): a request at tick `T`, for a full or an incremental
//! snapshot ([`SnapshotKind`]; full if two requests at `T` differ), begins once both input
//! frontiers have reached `T` and every earlier tick is processed, before any tick from
//! `T` on — at the same point of event time on every worker: the engine's snapshot as
//! of `T` begins ([`Engine::begin_snapshot`]), the host hears [`CheckpointStep::Began`]
//! (its sources' resume points at `T` are to be taken then), and the capability held
//! for the request is let go. The snapshot is then saved a slice of at most
//! [`SNAPSHOT_SLICE`] at a time — one slice before each slice of tick work, and the
//! rest of an activation's time when there is no tick to work on — while later ticks
//! go on (copy-on-write keeps it as of `T`), and goes to the host as
//! [`CheckpointStep::Taken`] with how it held the worker ([`SnapshotTiming`]). A
//! request that comes due while a snapshot is in progress is skipped (logged); the
//! host's next one succeeds. An operator restored from a checkpoint as of `T` (its
//! engine restored by the host) starts there: inputs and rule updates before `T` are
//! in its state and are dropped.
//!
//! ```
//! use std::sync::Arc;
//! use segstream_dataflows::classifier::{metrics::ClassifierMetrics, ClassifierConfig, Engine, UserInput};
//! use segstream_model::event::Event;
//! use segstream_dataflows::operators::classify::{classify, Checkpoints, Control};
//! use segstream_rules::{Schema, SegmentDef, SegmentKind, UdfRegistry};
//! use segstream_dataflows::operators::trace_rows::RowTrace;
//! use segstream_dataflows::user_lookup::UserLookups;
//! use segstream_dataflows::user_key::UserKey;
//! use differential_dataflow::operators::arrange::upsert::arrange_from_upsert;
//! use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
//! use segstream_rules::PackedRow;
//! use timely::dataflow::operators::{capture::Extract, Capture, ToStream};
//!
//! let schema = Arc::new(Schema::from_toml("[events.ad_watched]\n").unwrap());
//! let engine = Engine::new(schema, Arc::new(UdfRegistry::new()), ClassifierConfig::default()).unwrap();
//! let rule = SegmentDef { id: "watcher".into(), name: "Watcher".into(), description: String::new(), kind: SegmentKind::Dynamic,
//!     group: None, priority: None, parent: None, when: r#"count("ad_watched", "1m") >= 1"#.into() };
//! let watched = |id: &str, time: u64| {
//!     let event = Event { time, id: id.into(), user: "ann".into(), event_type: 0, properties: vec![],
//!         client_time: time as i64, sent_at: time as i64, received_at: time as i64 };
//!     ("ann".to_string(), UserInput::Event(event), time)
//! };
//! let captured = timely::example(move |scope| {
//!     let inputs = vec![watched("a", 1_000), watched("a", 1_020)].to_stream(scope).container::<Vec<_>>();
//!     let control = vec![(Control::Rule(rule, 1), 0u64)].to_stream(scope).container::<Vec<_>>();
//!     let no_rows = || -> RowTrace {
//!         let upserts = Vec::<(UserKey, Option<PackedRow>, u64)>::new().to_stream(scope).container::<Vec<_>>();
//!         type Packed = PackedRow;
//!         arrange_from_upsert::<ValBuilder<UserKey, Packed, u64, isize>, ValSpine<UserKey, Packed, u64, isize>, UserKey, Packed>(upserts, "Rows").trace
//!     };
//!     let lookups = Arc::new(UserLookups::default());
//!     let host = (Arc::new(ClassifierMetrics::default()), lookups, Checkpoints::none());
//!     classify(inputs, control, (no_rows(), no_rows()), engine, host).capture()
//! });
//! let updates: Vec<_> = captured.extract().into_iter().flat_map(|(_, updates)| updates).collect();
//! // The duplicate is dropped; ann enters at the event's tick and exits when it leaves the window.
//! let membership = ("ann".to_string(), "watcher".to_string());
//! assert_eq!(updates, vec![(membership.clone(), 1_000, 1), (membership, 61_000, -1)]);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use differential_dataflow::trace::TraceReader;
use timely::progress::Antichain;

use super::trace_rows::{RowTrace, TraceRows};
use crate::classifier::metrics::ClassifierMetrics;
use crate::classifier::side_rows::SideRows;
use crate::classifier::{EncodedSnapshot, Engine, EngineCounters, MembershipChange, SnapshotKind, UserInput};
use crate::user_key::UserKey;
use crate::user_lookup::UserLookups;
use segstream_rules::SegmentDef;

/// The longest the operator works in one activation before yielding.
const WORK_SLICE: Duration = Duration::from_millis(5);
/// Users re-indexed or re-evaluated between two looks at the clock during a rule
/// change's pass over every user (a few microseconds each).
const USERS_PER_SLICE: usize = 256;
/// The longest the operator works on a snapshot at a time (a slice of the checkpoint
/// pause).
pub const SNAPSHOT_SLICE: Duration = Duration::from_millis(1);
/// Entries a snapshot saves between two looks at the clock (a user is a few
/// microseconds).
const SNAPSHOT_ENTRIES_PER_LOOK: usize = 64;

/// A membership update: `((user, segment), tick, diff)`.
pub type MembershipUpdate = ((String, String), u64, isize);

/// A user's input at a tick.
pub type TimedInput = (String, UserInput, u64);

/// What every worker's classify operator receives: rule updates and checkpoint requests.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Control {
    /// A segment definition added (+1) or removed (−1).
    Rule(SegmentDef, isize),
    /// Take a checkpoint of this kind as of the record's tick.
    Checkpoint(SnapshotKind),
}

/// What the operator tells its host of a checkpoint (see the module contract).
#[derive(Debug)]
pub enum CheckpointStep {
    /// The snapshot as of this tick has begun: the state is fixed there.
    Began(u64),
    /// The snapshot, every entry saved, and how taking it held the worker.
    Taken(EncodedSnapshot, SnapshotTiming),
}

/// How a snapshot held its worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotTiming {
    /// Slices it was saved in.
    pub slices: u32,
    /// The longest slice: the longest the snapshot held the worker at a time.
    pub longest_slice: Duration,
    /// Every slice together.
    pub working: Duration,
    /// From its start to its end, ticks in between included.
    pub elapsed: Duration,
}

/// The operator's part in checkpoints (see the module contract).
pub struct Checkpoints {
    /// The tick of the checkpoint the engine was restored from (0: a fresh start).
    pub restored_at: u64,
    /// Where the steps of each checkpoint go.
    pub save: Box<dyn FnMut(CheckpointStep)>,
}

impl Checkpoints {
    /// No restore; requests are answered by dropping the snapshot.
    pub fn none() -> Checkpoints {
        Checkpoints {
            restored_at: 0,
            save: Box::new(|_| {}),
        }
    }
}

/// A snapshot in progress, as the operator times it (benchmarks time theirs alike).
pub struct SnapshotClock {
    started: Instant,
    timing: SnapshotTiming,
}

impl SnapshotClock {
    /// The clock of a snapshot begun now.
    pub fn start() -> SnapshotClock {
        SnapshotClock {
            started: Instant::now(),
            timing: SnapshotTiming::default(),
        }
    }

    /// How the snapshot has held the worker so far.
    pub fn timing(&self) -> SnapshotTiming {
        self.timing
    }

    /// Saves a slice of the engine's snapshot in progress (at most [`SNAPSHOT_SLICE`]);
    /// the snapshot once it is done.
    pub fn slice(&mut self, engine: &mut Engine, side: &mut dyn SideRows) -> Option<Result<EncodedSnapshot, String>> {
        let slice = Instant::now();
        let done = loop {
            if let Some(done) = engine.continue_snapshot(SNAPSHOT_ENTRIES_PER_LOOK, side) {
                break Some(done);
            }
            if slice.elapsed() >= SNAPSHOT_SLICE {
                break None;
            }
        };
        let took = slice.elapsed();
        self.timing.slices += 1;
        self.timing.longest_slice = self.timing.longest_slice.max(took);
        self.timing.working += took;
        self.timing.elapsed = self.started.elapsed();
        done
    }
}

fn report(metrics: &ClassifierMetrics, before: &EngineCounters, after: &EngineCounters) {
    ClassifierMetrics::add(&metrics.applied, after.events_applied - before.events_applied);
    ClassifierMetrics::add(&metrics.duplicates, after.duplicates - before.duplicates);
    ClassifierMetrics::add(&metrics.changes, after.changes - before.changes);
    ClassifierMetrics::add(&metrics.rule_errors, after.rule_errors - before.rule_errors);
    ClassifierMetrics::add(&metrics.evictions, after.evictions - before.evictions);
}

/// The earliest tick with stashed input or a timer.
fn earliest_pending<A, B>(inputs: &BTreeMap<u64, A>, rules: &BTreeMap<u64, B>, engine: &Engine) -> Option<u64> {
    [inputs.keys().next().copied(), rules.keys().next().copied(), engine.next_timer()]
        .into_iter()
        .flatten()
        .min()
}

/// The tick the operator's capability must stay at: a tick begun, the earliest
/// pending one, or a checkpoint not yet taken.
fn hold_at<A, B, C>(inputs: &BTreeMap<u64, A>, rules: &BTreeMap<u64, B>, checkpoints: &BTreeMap<u64, C>, engine: &Engine) -> Option<u64> {
    let pending = engine.tick_in_progress().or_else(|| earliest_pending(inputs, rules, engine));
    [pending, checkpoints.keys().next().copied()].into_iter().flatten().min()
}

/// Saves a slice of the snapshot in progress, if any, and hands it to the host once
/// done (counted in `metrics`).
fn save_a_slice(
    snapshot: &mut Option<SnapshotClock>,
    (engine, side): (&mut Engine, &mut dyn SideRows),
    (checkpoints, metrics): (&mut Checkpoints, &ClassifierMetrics),
    worker: usize,
) {
    let Some(clock) = snapshot.as_mut() else { return };
    let span = tracing::debug_span!("checkpoint", as_of = engine.snapshot_in_progress(), worker).entered();
    let done = clock.slice(engine, side);
    drop(span);
    let Some(done) = done else { return };
    let timing = clock.timing;
    *snapshot = None;
    match done {
        Ok(encoded) => {
            ClassifierMetrics::add(&metrics.checkpoint_snapshots, 1);
            let longest = u64::try_from(timing.longest_slice.as_micros()).unwrap_or(u64::MAX);
            metrics
                .checkpoint_longest_slice_us
                .store(longest, std::sync::atomic::Ordering::Relaxed);
            metrics
                .checkpoint_part_bytes
                .store(encoded.len() as u64, std::sync::atomic::Ordering::Relaxed);
            (checkpoints.save)(CheckpointStep::Taken(encoded, timing))
        }
        Err(e) => tracing::error!(worker, error = %e, "classify: a checkpoint's snapshot failed"),
    }
}

/// The classify operator (see the module contract).
pub fn classify<'s>(
    inputs: Stream<'s, u64, Vec<TimedInput>>,
    control: Stream<'s, u64, Vec<(Control, u64)>>,
    (mut profiles, mut stats): (RowTrace, RowTrace),
    mut engine: Engine,
    (metrics, lookups, mut checkpoints): (Arc<ClassifierMetrics>, Arc<UserLookups>, Checkpoints),
) -> Stream<'s, u64, Vec<MembershipUpdate>> {
    let scope = inputs.scope();
    let worker = scope.index();
    inputs.binary_frontier::<_, CapacityContainerBuilder<Vec<MembershipUpdate>>, _, _, _, _>(
        control,
        Exchange::new(|(user, _, _): &TimedInput| UserKey::route(user)),
        Pipeline,
        "Classify",
        move |initial: Capability<u64>, info| {
            lookups.register(worker, Some(scope.worker().sync_activator_for(info.address.to_vec())));
            let mut lookups_seen = 0;
            let activator = scope.activator_for(info.address);
            let restored_at = checkpoints.restored_at;
            let mut initial = initial;
            initial.downgrade(&restored_at);
            let mut held: Option<Capability<u64>> = Some(initial);
            let mut pending_inputs: BTreeMap<u64, Vec<(String, UserInput)>> = BTreeMap::new();
            let mut pending_rules: BTreeMap<u64, Vec<(SegmentDef, isize)>> = BTreeMap::new();
            let mut pending_checkpoints: BTreeMap<u64, SnapshotKind> = BTreeMap::new();
            let mut changes: Vec<MembershipChange> = Vec::new();
            let mut snapshot: Option<SnapshotClock> = None;
            move |(input, input_frontier), (control_input, control_frontier), output| {
                let port = output.output_index();
                let hold = |held: &mut Option<Capability<u64>>, cap: &timely::dataflow::operators::InputCapability<u64>, tick: u64| {
                    if held.as_ref().is_none_or(|h| tick < *h.time()) {
                        *held = Some(cap.delayed(&tick, port));
                    }
                };
                input.for_each(|cap, data| {
                    // Before the restored checkpoint: in the engine's state already.
                    for (user, item, tick) in data.drain(..).filter(|(_, _, tick)| *tick >= restored_at) {
                        hold(&mut held, &cap, tick);
                        pending_inputs.entry(tick).or_default().push((user, item));
                    }
                });
                control_input.for_each(|cap, data| {
                    for (control, tick) in data.drain(..).filter(|(_, tick)| *tick >= restored_at) {
                        match control {
                            Control::Rule(def, diff) => {
                                hold(&mut held, &cap, tick);
                                pending_rules.entry(tick).or_default().push((def, diff));
                            }
                            Control::Checkpoint(kind) => {
                                hold(&mut held, &cap, tick);
                                // Two requests at one tick: a full snapshot if either asks.
                                let asked = pending_checkpoints.entry(tick).or_insert(kind);
                                if kind == SnapshotKind::Full {
                                    *asked = kind;
                                }
                            }
                        }
                    }
                });
                let before = engine.counters.clone();
                let mut processed = false;
                let mut rows = TraceRows::new(&mut profiles, &mut stats);
                let started = Instant::now();
                loop {
                    // Yield after a slice of work so downstream operators see the
                    // changes of the ticks already done; the rest continues next time.
                    if started.elapsed() >= WORK_SLICE {
                        activator.activate();
                        break;
                    }
                    if engine.tick_in_progress().is_none() {
                        let next = earliest_pending(&pending_inputs, &pending_rules, &engine);
                        let complete =
                            |at: u64| !input_frontier.less_than(&at) && !control_frontier.less_than(&at) && next.is_none_or(|n| n >= at);
                        while let Some((at, kind)) = pending_checkpoints
                            .first_key_value()
                            .map(|(at, kind)| (*at, *kind))
                            .filter(|(at, _)| complete(*at))
                        {
                            pending_checkpoints.remove(&at);
                            match engine.begin_snapshot(at, kind) {
                                Ok(()) => {
                                    (checkpoints.save)(CheckpointStep::Began(at));
                                    snapshot = Some(SnapshotClock::start());
                                }
                                Err(e) => {
                                    ClassifierMetrics::add(&metrics.checkpoint_requests_skipped, 1);
                                    tracing::warn!(worker, error = %e, "classify: checkpoint as of {at} skipped");
                                }
                            }
                        }
                    }
                    // A slice of the snapshot in progress before each slice of ticks, so a
                    // busy worker finishes it too.
                    save_a_slice(&mut snapshot, (&mut engine, &mut rows), (&mut checkpoints, &metrics), worker);
                    let Some(cap) = held.as_ref() else { break };
                    let tick = match engine.tick_in_progress() {
                        // A rule change's pass over every user, continued.
                        Some(tick) => tick,
                        None => {
                            let next = earliest_pending(&pending_inputs, &pending_rules, &engine);
                            let Some(tick) = next else { break };
                            if input_frontier.less_equal(&tick) || control_frontier.less_equal(&tick) {
                                break;
                            }
                            if pending_checkpoints.keys().next().is_some_and(|at| *at <= tick) {
                                // Its frontiers have not reached it yet: the snapshot comes first.
                                break;
                            }
                            let inputs = pending_inputs.remove(&tick).unwrap_or_default();
                            let rule_updates = pending_rules.remove(&tick).unwrap_or_default();
                            engine.start_tick(tick, rule_updates, inputs);
                            tick
                        }
                    };
                    let slice = tracing::debug_span!("tick", tick, worker).entered();
                    processed |= engine.continue_tick(USERS_PER_SLICE, &mut rows, &mut changes);
                    drop(slice);
                    if !changes.is_empty() {
                        let at = cap.delayed(&tick);
                        output.session(&at).give_iterator(
                            changes
                                .drain(..)
                                .map(|c| ((c.user, c.segment), tick, if c.entered { 1 } else { -1 })),
                        );
                    }
                }
                // No tick to work on: the rest of the activation's time goes to the snapshot.
                while snapshot.is_some() && started.elapsed() < WORK_SLICE {
                    save_a_slice(&mut snapshot, (&mut engine, &mut rows), (&mut checkpoints, &metrics), worker);
                }
                if snapshot.is_some() {
                    activator.activate();
                }
                // Lookups see a finished tick's state, never one half done.
                if engine.tick_in_progress().is_none() {
                    lookups_seen = lookups.answer(worker, lookups_seen, |user| engine.inspect(user, worker, &mut rows));
                }
                drop(rows);
                if let Some(done) = engine.last_tick().filter(|_| processed) {
                    // Reads come at later ticks only, and count the updates before them;
                    // a snapshot in progress reads the rows before its tick.
                    let held = engine
                        .snapshot_in_progress()
                        .map_or(done, |as_of| done.min(as_of.saturating_sub(1)));
                    let frontier = Antichain::from_elem(held);
                    for trace in [&mut profiles, &mut stats] {
                        trace.set_logical_compaction(frontier.borrow());
                        trace.set_physical_compaction(frontier.borrow());
                    }
                }
                let next = hold_at(&pending_inputs, &pending_rules, &pending_checkpoints, &engine);
                match (next, held.as_mut()) {
                    (Some(tick), Some(cap)) if tick > *cap.time() => cap.downgrade(&tick),
                    (None, _) => held = None,
                    _ => {}
                }
                if processed {
                    report(&metrics, &before, &engine.counters);
                    let (users, dedup, dormant) = (engine.user_count() as u64, engine.dedup_len() as u64, engine.dormant_count() as u64);
                    metrics.set_worker(worker, |g| {
                        g.users = users;
                        g.dedup_entries = dedup;
                        g.dormant_users = dormant;
                    });
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use differential_dataflow::operators::arrange::upsert::arrange_from_upsert;
    use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
    use segstream_rules::{PackedRow, Schema, UdfRegistry};
    use timely::dataflow::operators::{Input, Probe, ToStream};
    use timely::dataflow::{InputHandle, ProbeHandle};

    use super::*;
    use crate::classifier::ClassifierConfig;

    /// A request with nothing else pending is answered once the control frontier
    /// reaches it — not before, and before the output passes its tick (the capability
    /// held for it guarantees that whatever the schedule; here the probe, downstream,
    /// could only see it afterwards).
    #[test]
    fn a_request_alone_is_answered_once_the_frontier_reaches_it() {
        let passed: Arc<Mutex<Vec<(u64, bool)>>> = Arc::default();
        let record = Arc::clone(&passed);
        let record_early = Arc::clone(&passed);
        let metrics = Arc::new(ClassifierMetrics::default());
        let worker_metrics = Arc::clone(&metrics);
        timely::execute_directly(move |worker| {
            let probe = ProbeHandle::new();
            let output = probe.clone();
            let checkpoints = Checkpoints {
                restored_at: 0,
                save: Box::new(move |step: CheckpointStep| {
                    if let CheckpointStep::Began(as_of) = step {
                        let passed = !output.less_equal(&as_of);
                        record.lock().map(|mut all| all.push((as_of, passed))).unwrap_or(());
                    }
                }),
            };
            let mut control = InputHandle::<u64, CapacityContainerBuilder<Vec<(Control, u64)>>>::new();
            worker.dataflow::<u64, _, _>(|scope| {
                let schema = Arc::new(Schema::from_toml("[events.ad_watched]\n").unwrap_or_else(|e| panic!("{e:?}")));
                let engine =
                    Engine::new(schema, Arc::new(UdfRegistry::new()), ClassifierConfig::default()).unwrap_or_else(|e| panic!("{e}"));
                let no_rows = || -> RowTrace {
                    let upserts = Vec::<(UserKey, Option<PackedRow>, u64)>::new()
                        .to_stream(scope)
                        .container::<Vec<_>>();
                    type Packed = PackedRow;
                    arrange_from_upsert::<ValBuilder<UserKey, Packed, u64, isize>, ValSpine<UserKey, Packed, u64, isize>, UserKey, Packed>(
                        upserts, "Rows",
                    )
                    .trace
                };
                let inputs = Vec::<TimedInput>::new().to_stream(scope).container::<Vec<_>>();
                let host = (Arc::clone(&worker_metrics), Arc::new(UserLookups::default()), checkpoints);
                classify(inputs, scope.input_from(&mut control), (no_rows(), no_rows()), engine, host).probe_with(&probe);
            });
            control.send((Control::Checkpoint(SnapshotKind::Full), 500));
            control.flush();
            for _ in 0..10 {
                worker.step();
            }
            let early = record_early.lock().map(|all| all.len()).unwrap_or(usize::MAX);
            assert_eq!(early, 0, "the control frontier (0) has not reached 500");
            // The request is in; the frontier now jumps past it.
            control.advance_to(1_000);
            for _ in 0..10 {
                worker.step();
            }
            assert!(!probe.less_equal(&500), "past the checkpoint once it is taken");
        });
        assert_eq!(*passed.lock().unwrap_or_else(|e| e.into_inner()), vec![(500, false)]);
        assert_eq!(
            ClassifierMetrics::get(&metrics.checkpoint_snapshots),
            1,
            "the snapshot was taken and counted"
        );
    }
}
