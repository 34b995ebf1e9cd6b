//! The classification dataflow, wired from its operators.
//!
//! ```text
//!  EventSource ─▶ event_source ─▶ (user, Event, tick) ──────────────┐
//!  profiles ─▶ pack ─▶ arrange_from_upsert (by key group) ─▶ (user, Profile ±) ──┤ concat ─▶ exchange by key group ─┐
//!  stats    ─▶ pack ─▶ arrange_from_upsert (by key group) ─▶ (user, Stats ±) ────┘                                   ├─▶ classify ─▶ membership
//!  rules (InputSession of SegmentDef) ─┬▶ broadcast to every worker ─────────────────────────────────┘        │
//!  checkpoint requests (tick) ──────────┘
//!                                                                     membership.map(segment).count_total() ─▶ sizes
//! ```
//!
//! Contract: [`build`] must be called by every worker, in the same order relative to
//! other dataflows, each with its own [`EventSource`]. The returned [`Handles`] are the
//! live inputs: rules (any worker may insert; usually worker 0), profile and stats
//! upserts `(user, Some(row) | None, tick)`; every worker must advance (or drop) all of
//! them, or event time cannot pass. Rows are packed ([`PackedRow`]: only the present
//! fields) before they are arranged, so the arrangements, the engine and the exchange
//! between them all hold that form. Membership is a differential collection of
//! `(user, segment)`: an update at tick `t` with diff +1 is an enter, −1 an exit.
//!
//! Checkpoints ([`build_with`], [`Checkpointing`]): a request sent on
//! [`Handles::request_checkpoint`] (by one worker, usually worker 0) reaches every
//! worker's classify operator, which hands its engine's snapshot as of the request's
//! tick to `save`. A worker built with a [`Restore`] restores the key groups it owns
//! from every old worker's snapshot, starts its classify operator at the checkpoint's
//! tick, and its source operator at each partition's resume point (the host has
//! positioned the source there); it seeds the profile and stats arrangements, just
//! before the checkpoint's tick, with the rows of the users it restored, because a
//! compacted table topic may no longer hold the rows a later delete retracts. [`build`]
//! is [`build_with`] without either.

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::input::{Input, InputSession};
use differential_dataflow::operators::arrange::upsert::arrange_from_upsert;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use differential_dataflow::{AsCollection, VecCollection};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concat, Input as TimelyInput};
use timely::dataflow::{InputHandle, Scope};

use crate::classifier::emitted::ResumePoint;
use crate::classifier::metrics::ClassifierMetrics;
use crate::classifier::source::EventSource;
use crate::classifier::{ClassifierConfig, Engine, EngineSnapshot, SnapshotKind, UserInput};
use crate::operators::classify::{classify, CheckpointStep, Checkpoints, Control};
use crate::operators::event_source::{event_source, Clock, SourceContext, SourceResume};
use crate::operators::trace_rows::RowTrace;
use crate::user_key::{owner, UserKey};
use crate::user_lookup::UserLookups;
use segstream_model::event::Row;
use segstream_rules::{PackedRow, Schema, SegmentDef, UdfRegistry};

/// An upsert input: `(user, Some(row) or None to delete, tick)`.
pub type UpsertInput = InputHandle<u64, CapacityContainerBuilder<Vec<(String, Option<Row>, u64)>>>;

/// What every worker's classifier shares.
#[derive(Clone)]
pub struct Shared {
    /// The schema events, profiles and stats are typed by.
    pub schema: Arc<Schema>,
    /// Host-defined rule functions.
    pub udfs: Arc<UdfRegistry>,
    /// Time parameters.
    pub config: ClassifierConfig,
    /// Counters.
    pub metrics: Arc<ClassifierMetrics>,
    /// Processing clock in ms.
    pub clock: Clock,
    /// Most source records read per activation.
    pub source_budget: usize,
    /// Questions about single users (the console's lookup).
    pub lookups: Arc<UserLookups>,
}

/// The live inputs of a classifier dataflow.
pub struct Handles {
    /// Segment definitions (insert a definition to add it, remove to delete it).
    pub rules: InputSession<u64, SegmentDef, isize>,
    /// Profile upserts.
    pub profiles: UpsertInput,
    /// Stats upserts.
    pub stats: UpsertInput,
    /// Checkpoint requests, each at its tick.
    pub checkpoints: InputHandle<u64, CapacityContainerBuilder<Vec<(u64, SnapshotKind)>>>,
}

impl Handles {
    /// Advances every input to `tick` (never backwards) and sends what is buffered.
    pub fn advance_to(&mut self, tick: u64) {
        if tick > *self.rules.time() {
            self.rules.advance_to(tick);
        }
        self.rules.flush();
        for input in [&mut self.profiles, &mut self.stats] {
            if tick > *input.time() {
                input.advance_to(tick);
            }
        }
        if tick > *self.checkpoints.time() {
            self.checkpoints.advance_to(tick);
        }
    }

    /// Asks every worker for a checkpoint of `kind` as of the inputs' current tick; that tick.
    pub fn request_checkpoint(&mut self, kind: SnapshotKind) -> u64 {
        let at = *self.checkpoints.time();
        self.checkpoints.send((at, kind));
        // Now, not with the next advance: the inputs may not move for a while.
        self.checkpoints.flush();
        at
    }
}

/// A restart from a checkpoint, for one worker (see the module contract).
#[derive(Clone, Debug, Default)]
pub struct Restore {
    /// The checkpoint's tick.
    pub as_of: u64,
    /// Every old worker's snapshot (this worker keeps the key groups it owns).
    pub snapshots: Vec<EngineSnapshot>,
    /// Where each of this worker's partitions resumes.
    pub points: BTreeMap<u32, ResumePoint>,
}

/// A worker's part in checkpoints (see the module contract).
pub struct Checkpointing {
    /// The checkpoint to start from, if any.
    pub restore: Option<Restore>,
    /// Where each checkpoint's steps go: its start, then the engine's snapshot with how
    /// taking it held the worker (`operators::classify`).
    pub save: Box<dyn FnMut(CheckpointStep)>,
}

impl Checkpointing {
    /// A fresh start whose snapshots are dropped.
    pub fn none() -> Checkpointing {
        Checkpointing {
            restore: None,
            save: Box::new(|_| {}),
        }
    }
}

/// The outputs of a classifier dataflow.
pub struct Outputs<'s> {
    /// Current memberships `(user, segment)`.
    pub membership: VecCollection<'s, u64, (String, String)>,
    /// Members per segment.
    pub sizes: VecCollection<'s, u64, (String, isize)>,
}

/// The upserts arranged by user: their change stream and the arrangement's trace.
fn upserts<'s>(
    scope: Scope<'s, u64>,
    input: &mut UpsertInput,
    name: &str,
    wrap: fn(PackedRow, isize) -> UserInput,
) -> (timely::dataflow::StreamVec<'s, u64, (String, UserInput, u64)>, RowTrace) {
    let packed = scope
        .input_from(input)
        .map(|(user, row, tick)| (UserKey(user), row.map(PackedRow::from_owned_slots), tick));
    let arranged =
        arrange_from_upsert::<ValBuilder<UserKey, PackedRow, u64, isize>, ValSpine<UserKey, PackedRow, u64, isize>, UserKey, PackedRow>(
            packed, name,
        );
    let trace = arranged.trace.clone();
    let changes = arranged
        .as_collection(|user, row| (user.0.clone(), row.clone()))
        .inner
        .map(move |((user, row), tick, diff)| (user, wrap(row, diff), tick));
    (changes, trace)
}

/// Sends the rows of the users a restored engine holds, and of its dormant records, into
/// the upsert inputs at `tick`, just before the checkpoint's: the arrangements then hold,
/// before the checkpoint, every row they held then, and the table topics are read only
/// from the checkpoint's offsets on. A compacted topic keeps
/// only the newest record of a key, so a delete after the checkpoint may be all that is
/// left of a row; without the seed it retracts nothing and the engine never hears of it.
fn seed_rows(engine: &Engine, schema: &Schema, tick: u64, (profiles, stats): (&mut UpsertInput, &mut UpsertInput)) {
    for (user, profile, user_stats) in engine.held_rows() {
        if let Some(row) = profile {
            profiles.send((user.to_string(), Some(row.to_slots(schema.profile.len())), tick));
        }
        if let Some(row) = user_stats {
            stats.send((user.to_string(), Some(row.to_slots(schema.stats.len())), tick));
        }
    }
}

/// Builds the classifier on this worker (see the module contract).
pub fn build<'s, S: EventSource>(scope: Scope<'s, u64>, source: S, shared: &Shared) -> Result<(Handles, Outputs<'s>), String> {
    build_with(scope, source, shared, Checkpointing::none())
}

/// Builds the classifier on this worker, restored from a checkpoint and taking them
/// (see the module contract).
pub fn build_with<'s, S: EventSource>(
    scope: Scope<'s, u64>,
    source: S,
    shared: &Shared,
    checkpointing: Checkpointing,
) -> Result<(Handles, Outputs<'s>), String> {
    let mut engine = Engine::new(Arc::clone(&shared.schema), Arc::clone(&shared.udfs), shared.config)?;
    let (index, peers) = (scope.index(), scope.peers());
    let resume = match checkpointing.restore {
        Some(restore) => {
            engine.restore(restore.snapshots, |group| owner(group, peers) == index)?;
            Some(SourceResume {
                as_of: restore.as_of,
                points: restore.points,
            })
        }
        None => None,
    };
    let restored_at = resume.as_ref().map_or(0, |r| r.as_of);
    let context = SourceContext {
        config: shared.config,
        metrics: Arc::clone(&shared.metrics),
        clock: Arc::clone(&shared.clock),
        budget: shared.source_budget,
        resume,
    };
    let events = event_source(scope, source, context).map(|(event, tick)| (event.user.clone(), UserInput::Event(event), tick));
    let mut profiles = InputHandle::new();
    let mut stats = InputHandle::new();
    let (profile_updates, profile_rows) = upserts(scope, &mut profiles, "Profiles", UserInput::Profile);
    let (stats_updates, stats_rows) = upserts(scope, &mut stats, "Stats", UserInput::Stats);
    if restored_at > 0 {
        seed_rows(&engine, &shared.schema, restored_at - 1, (&mut profiles, &mut stats));
        engine.forget_restored_rows();
    }
    let (rules, rule_updates) = scope.new_collection::<SegmentDef, isize>();
    let mut checkpoints = InputHandle::new();
    let requests = scope.input_from(&mut checkpoints).map(|(at, kind)| (Control::Checkpoint(kind), at));
    let control = rule_updates
        .inner
        .map(|(def, tick, diff)| (Control::Rule(def, diff), tick))
        .concat(requests);
    let user_inputs = events.concat(profile_updates).concat(stats_updates);
    let operator_checkpoints = Checkpoints {
        restored_at,
        save: checkpointing.save,
    };
    let membership = classify(
        user_inputs,
        control.broadcast(),
        (profile_rows, stats_rows),
        engine,
        (Arc::clone(&shared.metrics), Arc::clone(&shared.lookups), operator_checkpoints),
    )
    .as_collection();
    let sizes = membership.clone().map(|(_, segment)| segment).count_total();
    let handles = Handles {
        rules,
        profiles,
        stats,
        checkpoints,
    };
    Ok((handles, Outputs { membership, sizes }))
}
