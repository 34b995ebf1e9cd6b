//! The per-worker classification engine: exact, incremental membership for the users
//! this worker owns.
//!
//! Contract: the host calls [`Engine::process_tick`] once per complete tick, in
//! increasing tick order, with everything that happened at that tick — rule updates
//! (broadcast to every worker) and the inputs of this worker's users (events, profile
//! and stats updates) — and also at every tick returned by [`Engine::next_timer`]. A
//! host that must not stall calls [`Engine::start_tick`] and then
//! [`Engine::continue_tick`] with a budget until it returns `true`: a rule change
//! re-indexes and re-evaluates every user, which for millions of users is split into
//! slices the host yields between (the tick's changes come out slice by slice, all at
//! that tick). The engine then, for each touched user: expires window entries, applies profile and
//! stats changes, deduplicates and applies events (late ones with their true time),
//! re-evaluates exactly the segments whose inputs changed (a feature, profile or stats
//! field they read; any applied event for segments that read `now()`; a new or edited
//! definition; or never evaluated), applies the merge policy and reports every
//! membership change at that tick. This is the semantics the oracle specifies.
//!
//! A user the engine holds no state for (never seen, or evicted) is built from the
//! profile and stats in force before the tick ([`SideRows`]); a rule change reaches the
//! users with a profile or stats row that it does not hold as well. Users idle for the
//! `user_ttl` with no windowed state are evicted, keeping only their condition results
//! and memberships when any is set (`eviction.rs`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::active_rules::ActiveRules;
use super::dedup::Dedup;
use super::feature_slots::FeatureSlots;
use super::feature_state::{FeatureInput, FeatureState, Ticks};
use super::side_rows::SideRows;
use super::user_state::{HistoryEvent, UserState};
use super::FastHash;
use segstream_model::event::Event;
use segstream_model::ClassifierConfig;
use segstream_model::MembershipChange;
use segstream_rules::{FieldValue, Fields, PackedRow, Schema, SegmentDef, UdfRegistry, View};

mod eviction;
mod inspect;
mod rule_change;
mod snapshot;
#[cfg(test)]
mod test_support;
mod visit;

pub use snapshot::{EncodedSnapshot, EngineSnapshot, SnapshotKind};
use snapshot::{SnapshotWalk, TrackedMap, TrackedTimers};

/// An input of one user at one tick.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum UserInput {
    /// A behaviour event.
    Event(Event),
    /// A profile update: +1 a new value, −1 a retracted value.
    Profile(PackedRow, isize),
    /// A stats update, likewise.
    Stats(PackedRow, isize),
}

/// What the engine has counted so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Events applied to features (first sightings).
    pub events_applied: u64,
    /// Events dropped as duplicates.
    pub duplicates: u64,
    /// Applied events whose tick was before the tick they were applied at.
    pub late_applied: u64,
    /// Rule updates that did not compile (the previous set stayed in force).
    pub rule_errors: u64,
    /// The last such error.
    pub last_rule_error: Option<String>,
    /// Membership changes emitted.
    pub changes: u64,
    /// Users evicted for idleness.
    pub evictions: u64,
}

/// Per-worker classification state.
pub struct Engine {
    schema: Arc<Schema>,
    udfs: Arc<UdfRegistry>,
    config: ClassifierConfig,
    ticks: Ticks,
    defs: BTreeMap<SegmentDef, isize>,
    rules: ActiveRules,
    /// Users by id (`Box<str>`: 8 bytes less per user than a `String` key), each with a
    /// dense index that rule edits and eviction sweeps walk a slice at a time; removal
    /// is `swap_remove` (`visit.rs` says why the walks stay exact). Tracked: a snapshot
    /// in progress saves a user before changing it.
    users: TrackedMap<UserState>,
    /// What evicted users keep, by id (indexed and tracked likewise).
    dormant: TrackedMap<eviction::Dormant>,
    /// After a restore, until the host has seeded the arrangements with them: the
    /// dormant users' rows the snapshot held (`snapshot/mod.rs`).
    restored_dormant_rows: Vec<(Box<str>, Option<PackedRow>, Option<PackedRow>)>,
    dedup: Dedup,
    timers: TrackedTimers,
    /// The snapshot in progress, if any (`snapshot/walk.rs`).
    snapshot_walk: Option<SnapshotWalk>,
    /// The tick of the last snapshot begun: what an incremental one is a delta on.
    snapshot_base: Option<u64>,
    /// Reused per-user buffers: which segments to evaluate, the new membership.
    scratch_evaluate: Vec<bool>,
    scratch_member: Vec<bool>,
    scratch_due: Vec<usize>,
    scratch_values: Vec<Option<FieldValue>>,
    scratch_filled: Vec<bool>,
    /// The profile slot `age()` reads, computed once per evaluated user.
    birth_slot: Option<usize>,
    /// The tick of the next eviction sweep.
    next_eviction_sweep: u64,
    /// The sweep in progress: users with an index below this are still to check.
    sweep_below: Option<usize>,
    /// Users processed with inputs since the last sweep.
    inputs_since_sweep: u64,
    /// The last tick processed.
    last_tick: Option<u64>,
    /// Whether the tick being processed changed the rule set.
    rules_changed_now: bool,
    /// The tick begun and not finished.
    work: Option<TickWork>,
    /// Counters, for metrics.
    pub counters: EngineCounters,
}

/// A tick begun by [`Engine::start_tick`] and not yet finished.
struct TickWork {
    now: u64,
    /// The new or edited segments, if the tick changed the rules.
    changed: Option<Vec<usize>>,
    /// The re-indexing that change needs, until done.
    reindex: Option<rule_change::Reindexing>,
    /// The tick's inputs (sorted by user), until processed.
    inputs: Option<Vec<(String, UserInput)>>,
    /// Users whose inputs were processed.
    processed: HashSet<String, FastHash>,
    /// The other users to visit (`visit.rs`), once the inputs are processed.
    visit: Option<visit::Visit>,
}

/// Changes of one user at one tick, before evaluation.
#[derive(Default)]
struct Touched {
    /// Feature slots changed at this tick, with their value before the tick.
    features: Vec<(usize, Option<FieldValue>)>,
    profile: Vec<usize>,
    stats: Vec<usize>,
    event_applied: bool,
}

fn changed_slots(old: Option<&PackedRow>, new: Option<&PackedRow>, width: usize) -> Vec<usize> {
    (0..width)
        .filter(|&i| old.and_then(|r| r.get(i)) != new.and_then(|r| r.get(i)))
        .collect()
}

/// The value of a feature slot of a user: its state's, or the slot's empty value.
fn feature_value(features: &FeatureSlots, rules: &ActiveRules, slot: usize) -> Option<FieldValue> {
    match features.get(slot) {
        Some(state) => state.value(),
        None => rules.empty_values.get(slot).cloned().flatten(),
    }
}

/// Records a slot's value before its first change at this tick.
fn note_old_value(touched: &mut Vec<(usize, Option<FieldValue>)>, features: &FeatureSlots, rules: &ActiveRules, slot: usize) {
    if !touched.iter().any(|(s, _)| *s == slot) {
        touched.push((slot, feature_value(features, rules, slot)));
    }
}

/// The net value of a tick's upserts: the inserted value, or `None` if only retracted.
fn net_upsert(updates: &[(&PackedRow, isize)]) -> Option<Option<PackedRow>> {
    if updates.is_empty() {
        return None;
    }
    Some(updates.iter().filter(|(_, diff)| *diff > 0).map(|(row, _)| *row).max().cloned())
}

impl Engine {
    /// An engine with no rules yet.
    pub fn new(schema: Arc<Schema>, udfs: Arc<UdfRegistry>, config: ClassifierConfig) -> Result<Engine, String> {
        config.validate()?;
        let rules = ActiveRules::new(&schema, &udfs, Vec::new())?;
        let birth_slot = schema.birth_date_slot();
        Ok(Engine {
            ticks: Ticks { tick_ms: config.tick_ms },
            dedup: Dedup::new(config.tick_ms, config.dedup_horizon_ms),
            schema,
            udfs,
            config,
            defs: BTreeMap::new(),
            rules,
            users: TrackedMap::default(),
            dormant: TrackedMap::default(),
            restored_dormant_rows: Vec::new(),
            timers: TrackedTimers::default(),
            snapshot_walk: None,
            snapshot_base: None,
            scratch_evaluate: Vec::new(),
            scratch_member: Vec::new(),
            scratch_due: Vec::new(),
            scratch_values: Vec::new(),
            scratch_filled: Vec::new(),
            next_eviction_sweep: 0,
            sweep_below: None,
            inputs_since_sweep: 0,
            last_tick: None,
            rules_changed_now: false,
            work: None,
            birth_slot,
            counters: EngineCounters::default(),
        })
    }

    /// The earliest tick with pending window expiries.
    pub fn next_timer(&self) -> Option<u64> {
        self.timers.keys().next().copied()
    }

    /// The last tick [`Engine::process_tick`] processed.
    pub fn last_tick(&self) -> Option<u64> {
        self.last_tick
    }

    /// Number of users with state on this worker.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Number of remembered event ids.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// Processes everything that happened at tick `now` (see the module contract);
    /// `side` answers for users the engine holds no state for. The same as
    /// [`Engine::start_tick`] and [`Engine::continue_tick`] until it is done.
    pub fn process_tick(
        &mut self,
        now: u64,
        rule_updates: Vec<(SegmentDef, isize)>,
        inputs: Vec<(String, UserInput)>,
        side: &mut dyn SideRows,
        out: &mut Vec<MembershipChange>,
    ) {
        self.start_tick(now, rule_updates, inputs);
        while !self.continue_tick(usize::MAX, side, out) {}
    }

    /// Begins tick `now` (see the module contract): applies the rule updates, the rest
    /// is done by [`Engine::continue_tick`]. A tick must be finished before the next
    /// one starts or the engine is inspected.
    pub fn start_tick(&mut self, now: u64, rule_updates: Vec<(SegmentDef, isize)>, mut inputs: Vec<(String, UserInput)>) {
        let (changed, reindex) = match rule_updates.is_empty() {
            true => (None, None),
            false => self
                .apply_rule_updates(rule_updates)
                .map_or((None, None), |(c, r)| (Some(c), Some(r))),
        };
        self.rules_changed_now = changed.is_some();
        // Group by user; within a user, events in `Event` order (the smallest copy of a
        // duplicate within a tick wins), then profile and stats updates.
        inputs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        self.work = Some(TickWork {
            now,
            changed,
            reindex,
            inputs: Some(inputs),
            processed: HashSet::default(),
            visit: None,
        });
    }

    /// The tick begun and not yet finished, if any.
    pub fn tick_in_progress(&self) -> Option<u64> {
        self.work.as_ref().map(|w| w.now)
    }

    /// Works on the tick in progress, about `budget` users' worth (a user re-indexed or
    /// re-evaluated after a rule change counts one; a tick's inputs are done at once);
    /// whether the tick is finished (also when none is in progress).
    pub fn continue_tick(&mut self, budget: usize, side: &mut dyn SideRows, out: &mut Vec<MembershipChange>) -> bool {
        let Some(mut work) = self.work.take() else { return true };
        let start = out.len();
        let finished = self.work_on(&mut work, budget, side, out);
        out[start..].sort_unstable();
        self.counters.changes += (out.len() - start) as u64;
        if finished {
            self.evict_idle(work.now, work.changed.is_some());
            self.last_tick = Some(work.now);
        } else {
            self.work = Some(work);
        }
        finished
    }

    fn work_on(&mut self, work: &mut TickWork, mut budget: usize, side: &mut dyn SideRows, out: &mut Vec<MembershipChange>) -> bool {
        let now = work.now;
        if let Some(job) = work.reindex.as_mut() {
            budget = self.reindex_some(job, now, budget, out);
            if !job.done() {
                return false;
            }
        }
        let changed = work.changed.as_deref().unwrap_or(&[]);
        if let Some(inputs) = work.inputs.take() {
            self.dedup.advance(now);
            let due = self.due_users(now);
            let mut group: Vec<UserInput> = Vec::new();
            let mut inputs = inputs.into_iter().peekable();
            while let Some((user, first)) = inputs.next() {
                group.clear();
                group.push(first);
                while let Some((_, next)) = inputs.next_if(|(u, _)| *u == user) {
                    group.push(next);
                }
                self.process_user(now, &user, &mut group, changed, side, out);
                work.processed.insert(user);
            }
            work.visit = Some(match work.reindex.take() {
                // After a rule change every user, held (new ones too: they were
                // processed), side-only and dormant.
                Some(_) => visit::Visit::everyone(self.users.len(), self.dormant.len()),
                None => visit::Visit::Due(due),
            });
        }
        self.visit_some(work, budget, side, out)
    }

    /// The users with a window expiry due at `now`, sorted, each once; their timers
    /// are taken.
    fn due_users(&mut self, now: u64) -> Vec<Box<str>> {
        let due = self.timers.take(now).unwrap_or_default();
        let mut users: Vec<Box<str>> = due
            .into_iter()
            .filter(|u| self.users.get(u.as_str()).is_some_and(|s| s.next_timer == Some(now)))
            .map(String::into_boxed_str)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    fn process_user(
        &mut self,
        now: u64,
        name: &str,
        inputs: &mut Vec<UserInput>,
        changed_segments: &[usize],
        side: &mut dyn SideRows,
        out: &mut Vec<MembershipChange>,
    ) {
        if !self.users.contains_key(name) {
            let mut state = UserState::new(&self.rules);
            (state.profile, state.stats) = side.rows_before(name, now);
            self.wake(name, &mut state);
            self.users.insert(name.into(), state);
        }
        let rules = &self.rules;
        // Raw history serves features that rule edits introduce; none is kept beyond the
        // longest window of the rules in force, nor beyond the configured history.
        let history_ms = self.config.history_ms.min(rules.longest_window_ms);
        let Some(state) = self.users.get_mut(name) else { return };
        if !inputs.is_empty() {
            state.last_active = now;
            self.inputs_since_sweep += 1;
        }
        let specs = rules.set.features();
        let mut touched = Touched::default();

        // `next_timer` is the earliest expiry of any feature (kept at the end of every
        // call), so most calls need not look at the features for expiries at all.
        let due = &mut self.scratch_due;
        due.clear();
        let was_due = state.next_timer.is_some_and(|t| t <= now);
        if was_due {
            due.extend(
                state
                    .features
                    .iter()
                    .filter(|(slot, f)| f.next_expiry(&specs[*slot], self.ticks).is_some_and(|t| t <= now))
                    .map(|(slot, _)| slot),
            );
        }

        for &slot in due.iter() {
            note_old_value(&mut touched.features, &state.features, rules, slot);
            if let Some(f) = state.features.get_mut(slot) {
                f.expire(&specs[slot], now, self.ticks);
                if f.is_empty() {
                    state.features.remove(slot);
                }
            }
        }

        let profiles: Vec<(&PackedRow, isize)> = inputs
            .iter()
            .filter_map(|i| if let UserInput::Profile(r, d) = i { Some((r, *d)) } else { None })
            .collect();
        if let Some(profile) = net_upsert(&profiles) {
            touched.profile = changed_slots(state.profile.as_ref(), profile.as_ref(), self.schema.profile.len());
            state.profile = profile;
        }
        let stats: Vec<(&PackedRow, isize)> = inputs
            .iter()
            .filter_map(|i| if let UserInput::Stats(r, d) = i { Some((r, *d)) } else { None })
            .collect();
        if let Some(new_stats) = net_upsert(&stats) {
            touched.stats = changed_slots(state.stats.as_ref(), new_stats.as_ref(), self.schema.stats.len());
            state.stats = new_stats;
        }

        for input in inputs.drain(..) {
            let UserInput::Event(event) = input else { continue };
            if !self.dedup.first_sighting(name, &event.id, now) {
                self.counters.duplicates += 1;
                continue;
            }
            self.counters.events_applied += 1;
            if self.config.tick_of(event.time) < now {
                self.counters.late_applied += 1;
            }
            touched.event_applied = true;
            let feature_input = FeatureInput {
                event_type: event.event_type,
                time: event.time,
                id: &event.id,
                properties: &event.properties,
            };
            if let Some(slots) = rules.features_by_type.get(event.event_type as usize) {
                for &slot in slots {
                    note_old_value(&mut touched.features, &state.features, rules, slot);
                    let f = state
                        .features
                        .get_or_insert_with(slot, || FeatureState::new(&specs[slot], rules.int_property[slot]));
                    f.add(&specs[slot], feature_input, now, self.ticks);
                    if f.is_empty() {
                        state.features.remove(slot);
                    }
                }
            }
            if history_ms > 0 {
                state.remember(HistoryEvent {
                    time: event.time,
                    id: event.id.into_boxed_str(),
                    event_type: event.event_type,
                    properties: event.properties,
                });
            }
        }
        if history_ms > 0 {
            state.forget_before(now, history_ms, self.config.tick_ms);
        }

        let evaluate = &mut self.scratch_evaluate;
        evaluate.clear();
        evaluate.extend(state.evaluated.iter().map(|e| !e));
        for (slot, old) in &touched.features {
            if feature_value(&state.features, rules, *slot) != *old {
                rules.set.readers_of_feature(*slot).iter().for_each(|&s| evaluate[s] = true);
            }
        }
        touched
            .profile
            .iter()
            .flat_map(|&slot| &rules.profile_readers[slot])
            .for_each(|&s| evaluate[s] = true);
        touched
            .stats
            .iter()
            .flat_map(|&slot| &rules.stats_readers[slot])
            .for_each(|&s| evaluate[s] = true);
        if touched.event_applied {
            rules.now_readers.iter().for_each(|&s| evaluate[s] = true);
        }
        changed_segments.iter().for_each(|&s| evaluate[s] = true);

        // The feature values the segments to evaluate read; other slots stay unset.
        let values = &mut self.scratch_values;
        values.clear();
        values.resize(specs.len(), None);
        let filled = &mut self.scratch_filled;
        filled.clear();
        filled.resize(specs.len(), false);
        for (i, segment) in rules.set.segments().iter().enumerate() {
            if !evaluate[i] {
                continue;
            }
            for &slot in &segment.reads.features {
                if !filled[slot] {
                    values[slot] = feature_value(&state.features, rules, slot);
                    filled[slot] = true;
                }
            }
        }
        let view = View {
            now: now as i64,
            profile: state.profile.as_ref().map_or(Fields::default(), Fields::Packed),
            stats: state.stats.as_ref().map_or(Fields::default(), Fields::Packed),
            features: values,
            event: &[],
            age: None,
        }
        // age() only where a segment reads the clock (age() counts as reading it).
        .with_age(self.birth_slot.filter(|_| !rules.now_readers.is_empty()));
        for (i, segment) in rules.set.segments().iter().enumerate() {
            if evaluate[i] {
                state.raw.set(i, segment.program.matches(&view));
                state.evaluated.set(i, true);
            }
        }
        let member = &mut self.scratch_member;
        member.clear();
        member.resize(state.member.len(), false);
        let (raw, previous) = (&state.raw, &state.member);
        rules
            .policy
            .apply_with(|i| raw.get(i).unwrap_or(false), |i| previous.get(i).unwrap_or(false), member);
        for (i, segment) in rules.set.segments().iter().enumerate() {
            if member[i] != state.member.get(i).unwrap_or(false) {
                out.push(MembershipChange {
                    time: now,
                    user: name.to_string(),
                    segment: segment.def.id.clone(),
                    entered: member[i],
                });
            }
        }
        for (i, &m) in member.iter().enumerate() {
            state.member.set(i, m);
        }

        // Adding events only brings a feature's expiry forward; a timer that was due (an
        // expiry, or a feature dropped since) or a rule change (re-indexed, backfilled
        // features) needs a look at every feature.
        let next = if was_due || self.rules_changed_now {
            state
                .features
                .iter()
                .filter_map(|(slot, f)| f.next_expiry(&specs[slot], self.ticks))
                .min()
        } else {
            touched
                .features
                .iter()
                .filter_map(|(slot, _)| state.features.get(*slot).and_then(|f| f.next_expiry(&specs[*slot], self.ticks)))
                .chain(state.next_timer)
                .min()
        };
        if next != state.next_timer || next.is_some_and(|t| t <= now) {
            state.next_timer = next.filter(|t| *t > now);
            if let Some(t) = state.next_timer {
                self.timers.push(t, name.to_string());
            }
        }
    }
}
