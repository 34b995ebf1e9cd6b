//! The classification dataflow, wired from its operators.
//!
//! ```text
//!  EventSource ─▶ event_source ─▶ (user, Event, tick) ──────────────┐
//!  profiles ─▶ pack ─▶ arrange_from_upsert (by key group) ─▶ (user, Profile ±) ──┤ concat ─▶ exchange by key group ─┐
//!  stats    ─▶ pack ─▶ arrange_from_upsert (by key group) ─▶ (user, Stats ±) ────┘                                   ├─▶ classify ─▶ membership
//!  rules (InputSession of SegmentDef) ─▶ broadcast to every worker ──────────────────────────────────┘        │
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

use crate::classifier::metrics::ClassifierMetrics;
use crate::classifier::source::EventSource;
use crate::classifier::{ClassifierConfig, Engine, UserInput};
use crate::operators::classify::classify;
use crate::operators::event_source::{event_source, Clock, SourceContext};
use crate::operators::trace_rows::RowTrace;
use crate::user_key::UserKey;
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

/// Builds the classifier on this worker (see the module contract).
pub fn build<'s, S: EventSource>(scope: Scope<'s, u64>, source: S, shared: &Shared) -> Result<(Handles, Outputs<'s>), String> {
    let engine = Engine::new(Arc::clone(&shared.schema), Arc::clone(&shared.udfs), shared.config)?;
    let context = SourceContext {
        config: shared.config,
        metrics: Arc::clone(&shared.metrics),
        clock: Arc::clone(&shared.clock),
        budget: shared.source_budget,
    };
    let events = event_source(scope, source, context).map(|(event, tick)| (event.user.clone(), UserInput::Event(event), tick));
    let mut profiles = InputHandle::new();
    let mut stats = InputHandle::new();
    let (profile_updates, profile_rows) = upserts(scope, &mut profiles, "Profiles", UserInput::Profile);
    let (stats_updates, stats_rows) = upserts(scope, &mut stats, "Stats", UserInput::Stats);
    let (rules, rule_updates) = scope.new_collection::<SegmentDef, isize>();
    let user_inputs = events.concat(profile_updates).concat(stats_updates);
    let membership = classify(
        user_inputs,
        rule_updates.inner.broadcast(),
        (profile_rows, stats_rows),
        engine,
        (Arc::clone(&shared.metrics), Arc::clone(&shared.lookups)),
    )
    .as_collection();
    let sizes = membership.clone().map(|(_, segment)| segment).count_total();
    Ok((Handles { rules, profiles, stats }, Outputs { membership, sizes }))
}
