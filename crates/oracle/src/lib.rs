//! segstream-oracle: the brute-force reference classifier, membership changes recomputed
//! from scratch by the letter of the specification, for testing the incremental
//! classifier. Test support: a dev-dependency of the engine's and binary's tests and a
//! dependency of the harness, never of a production crate.
//!
//! Contract: [`expected_changes`] takes a whole [`Scenario`] (rule snapshots, profile and
//! stats upserts, events in any order with duplicates) and returns every
//! [`MembershipChange`], sorted. It is deliberately simple and slow (it recomputes every
//! feature of a user from all of the user's events at every tick it looks at) and is
//! meant for inputs of a few hundred events. With `T` the tick and `τ(x) = x − x mod T`:
//!
//! 0. **Late events.** An event of [`Scenario::events`] applies at its own tick
//!    `τ(time)`. An event of [`Scenario::arrivals`] (events by partition, in the order
//!    the partition is read) is judged against its partition's watermark *at it*:
//!    `m = max(time of the partition's earlier events) − max_out_of_order`. It applies
//!    at `max(τ(time), τ(m))` — *late* when that is after its own tick — unless
//!    `time + dedup_horizon < m`, when it is dropped (sidelined). Before the partition's
//!    first event there is no `m` and nothing is late. Every event, dropped or not,
//!    raises its partition's maximum.
//! 1. **Dedup.** For each (user, event id) one copy is kept: the one with the smallest
//!    application tick, ties broken by the smallest [`Event`] (its `Ord`). An event is
//!    *visible* at `t` once its application tick is `≤ t`; only visible events count.
//! 2. **Rules.** The set in force at tick `t` is the snapshot with the greatest tick
//!    `≤ t` (none: the empty set), its definitions sorted by id and compiled. A segment
//!    *changed at `t`* if the snapshot at exactly `t` contains it and the previous
//!    snapshot lacks it or defines it differently.
//! 3. **Profile and stats** of a user at `t`: the upsert with the greatest tick `≤ t`;
//!    several at that tick, the greatest `Option<Row>` wins; `None` (a delete) or no
//!    upsert is an absent record (all fields missing).
//! 4. A user is **known** at `t` once it has a visible event or any upsert with tick `≤ t`.
//! 5. **Candidate ticks** of a user: its events' application ticks, its upsert ticks, every snapshot
//!    tick, and `τ(e) + w` for each of its events `e` and each windowed feature (window
//!    `w`) of any snapshot that reads `e`'s type. They are visited in ascending order,
//!    those at which the user is known.
//! 6. **At a visited tick `t`** (set `S_t`): features are computed at `t` and at `t − T`
//!    for the features of `S_t` from the events visible at `t` and at `t − T`
//!    respectively (at `t = 0` every previous value is absent), and so are
//!    profile and stats. A segment is evaluated if it has no recorded result for the
//!    user, changed at `t`, reads a feature/profile/stats slot whose value differs
//!    between `t − T` and `t`, or reads `now()` and the user has an event that applies at `t`.
//!    Other segments keep their recorded result; segments not in `S_t` are forgotten.
//!    The merge policy ([`Policy`]) turns the results and the previous membership into
//!    the new membership; every difference is a change stamped `t`.
//!
//! The clock alone never triggers an evaluation: a `now()`-reading condition is only
//! re-checked at a tick where one of its inputs changes or the user has an event.
//!
//! Inputs the specification leaves undefined are rejected with an error rather than
//! guessed: an invalid config, two rule snapshots at the same tick, a snapshot or upsert
//! tick that is not a multiple of the tick length, a time beyond `i64::MAX`, and a rule
//! snapshot that does not compile.

#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use segstream_dataflows::classifier::{ClassifierConfig, MembershipChange, Policy};
use segstream_model::event::{Event, Row};
use segstream_rules::{compute_features, FieldValue, Limits, ObservedEvent, RuleSet, Schema, SegmentDef, UdfRegistry, View};

/// Everything the classifier is given, as one batch.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// The classifier's time parameters (only `tick_ms` matters here).
    pub config: ClassifierConfig,
    /// Rule set snapshots: (tick, the full set of segment definitions in force from that tick on).
    pub rules: Vec<(u64, Vec<SegmentDef>)>,
    /// Profile upserts: (tick, user, `Some(row)`, or `None` for a delete).
    pub profiles: Vec<(u64, String, Option<Row>)>,
    /// Stats upserts, same shape as the profile upserts.
    pub stats: Vec<(u64, String, Option<Row>)>,
    /// Events in any order, possibly with duplicate ids, each applying at its own tick
    /// (input within the out-of-order bound, however it is partitioned).
    pub events: Vec<Event>,
    /// Events by partition, each partition in the order it is read, judged by the
    /// late-event rule (rule 0); possibly with duplicate ids, also of `events`.
    pub arrivals: Vec<Vec<Event>>,
    /// Only these users' changes are computed (`None`: every user's). Every event still
    /// raises its partition's watermark, so a sample of a large run is judged exactly
    /// without the cost of classifying everyone.
    pub only_users: Option<BTreeSet<String>>,
}

/// One compiled rule snapshot.
struct Snapshot {
    tick: u64,
    /// The definitions by id.
    defs: BTreeMap<String, SegmentDef>,
    set: RuleSet,
    policy: Policy,
}

/// The membership changes the specification in this module's documentation prescribes
/// for a scenario, sorted; an error for input the specification does not define.
pub fn expected_changes(schema: &Schema, udfs: &UdfRegistry, scenario: &Scenario) -> Result<Vec<MembershipChange>, String> {
    scenario.config.validate()?;
    let tick_ms = scenario.config.tick_ms;
    let snapshots = compile_snapshots(schema, udfs, &scenario.rules, tick_ms)?;
    let empty = compile_snapshot(schema, udfs, 0, &[])?;
    for (what, upserts) in [("profile", &scenario.profiles), ("stats", &scenario.stats)] {
        for (tick, user, _) in upserts {
            if tick % tick_ms != 0 {
                return Err(format!(
                    "{what} upsert of user {user:?} at {tick}, which is not a multiple of the tick {tick_ms}"
                ));
            }
        }
    }
    let mut placed = application_ticks(scenario);
    if let Some(only) = &scenario.only_users {
        placed.retain(|(_, e)| only.contains(&e.user));
    }
    let events = dedup(&placed);
    let users: BTreeSet<&str> = events
        .iter()
        .map(|(_, e)| e.user.as_str())
        .chain(scenario.profiles.iter().map(|(_, u, _)| u.as_str()))
        .chain(scenario.stats.iter().map(|(_, u, _)| u.as_str()))
        .filter(|user| scenario.only_users.as_ref().is_none_or(|only| only.contains(*user)))
        .collect();
    let world = World {
        schema,
        tick_ms,
        snapshots: &snapshots,
        empty: &empty,
    };
    let mut changes = Vec::new();
    for user in users {
        let input = UserInput {
            events: events.iter().filter(|(_, e)| e.user == user).copied().collect(),
            profiles: scenario
                .profiles
                .iter()
                .filter(|(_, u, _)| u == user)
                .map(|(t, _, r)| (*t, r))
                .collect(),
            stats: scenario
                .stats
                .iter()
                .filter(|(_, u, _)| u == user)
                .map(|(t, _, r)| (*t, r))
                .collect(),
        };
        changes.extend(classify_user(&world, user, &input)?);
    }
    changes.sort();
    Ok(changes)
}

/// Rule 0: every event with the tick it applies at; sidelined events left out.
fn application_ticks(scenario: &Scenario) -> Vec<(u64, &Event)> {
    let config = &scenario.config;
    let mut applied: Vec<(u64, &Event)> = scenario.events.iter().map(|e| (tick_of(e.time, config.tick_ms), e)).collect();
    for partition in &scenario.arrivals {
        let mut highest: Option<u64> = None;
        for event in partition {
            let mark = highest.map(|h| h.saturating_sub(config.max_out_of_order_ms));
            highest = Some(highest.map_or(event.time, |h| h.max(event.time)));
            if mark.is_some_and(|m| event.time.saturating_add(config.dedup_horizon_ms) < m) {
                continue;
            }
            let own = tick_of(event.time, config.tick_ms);
            applied.push((own.max(mark.map_or(0, |m| tick_of(m, config.tick_ms))), event));
        }
    }
    applied
}

/// Rule 1: one copy per (user, id), the one with the smallest (application tick, event).
fn dedup<'a>(events: &[(u64, &'a Event)]) -> Vec<(u64, &'a Event)> {
    let mut kept: BTreeMap<(&str, &str), (u64, &Event)> = BTreeMap::new();
    for &(at, event) in events {
        let key = (at, event);
        let id = (event.user.as_str(), event.id.as_str());
        match kept.get(&id) {
            Some(current) if *current <= key => {}
            _ => {
                kept.insert(id, key);
            }
        }
    }
    kept.into_values().collect()
}

fn tick_of(time: u64, tick_ms: u64) -> u64 {
    time - time % tick_ms
}

fn to_i64(value: u64, what: &str) -> Result<i64, String> {
    i64::try_from(value).map_err(|_| format!("{what} {value} is beyond the largest supported time"))
}

fn compile_snapshots(schema: &Schema, udfs: &UdfRegistry, rules: &[(u64, Vec<SegmentDef>)], tick_ms: u64) -> Result<Vec<Snapshot>, String> {
    let mut snapshots = Vec::new();
    for (tick, defs) in rules {
        if tick % tick_ms != 0 {
            return Err(format!("rule snapshot at {tick}, which is not a multiple of the tick {tick_ms}"));
        }
        snapshots.push(compile_snapshot(schema, udfs, *tick, defs)?);
    }
    snapshots.sort_by_key(|s| s.tick);
    for pair in snapshots.windows(2) {
        if pair[0].tick == pair[1].tick {
            return Err(format!("two rule snapshots at the same tick {}", pair[0].tick));
        }
    }
    Ok(snapshots)
}

fn compile_snapshot(schema: &Schema, udfs: &UdfRegistry, tick: u64, defs: &[SegmentDef]) -> Result<Snapshot, String> {
    let mut sorted = defs.to_vec();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let set = RuleSet::compile(schema, &sorted, udfs, Limits::default()).map_err(|errors| {
        let reasons: Vec<String> = errors
            .iter()
            .map(|e| {
                let id = sorted.get(e.segment).map_or("?", |d| d.id.as_str());
                format!("segment {id:?} ({:?}): {}", e.field, e.message)
            })
            .collect();
        format!("rule snapshot at {tick} does not compile: {}", reasons.join("; "))
    })?;
    let policy = Policy::new(&set);
    let mut by_id = BTreeMap::new();
    for def in sorted {
        by_id.insert(def.id.clone(), def);
    }
    Ok(Snapshot {
        tick,
        defs: by_id,
        set,
        policy,
    })
}

/// What every user's classification shares.
struct World<'a> {
    schema: &'a Schema,
    tick_ms: u64,
    /// Sorted by tick, ticks distinct.
    snapshots: &'a [Snapshot],
    empty: &'a Snapshot,
}

impl World<'_> {
    /// Rule 2: the snapshot in force at `t`.
    fn snapshot_at(&self, t: u64) -> &Snapshot {
        self.snapshots.iter().rev().find(|s| s.tick <= t).unwrap_or(self.empty)
    }

    /// Rule 2: the ids of the segments that changed at `t`.
    fn changed_at(&self, t: u64) -> BTreeSet<String> {
        let Some(position) = self.snapshots.iter().position(|s| s.tick == t) else {
            return BTreeSet::new();
        };
        let current = &self.snapshots[position];
        let previous = position.checked_sub(1).map(|p| &self.snapshots[p].defs);
        current
            .defs
            .iter()
            .filter(|(id, def)| previous.and_then(|p| p.get(*id)) != Some(*def))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// One user's (deduplicated) inputs.
struct UserInput<'a> {
    /// Each with the tick it applies at.
    events: Vec<(u64, &'a Event)>,
    profiles: Vec<(u64, &'a Option<Row>)>,
    stats: Vec<(u64, &'a Option<Row>)>,
}

/// Rule 3: the record in force at `t`, as a row for a [`View`] (`width` missing fields
/// when there is none).
fn record_at(upserts: &[(u64, &Option<Row>)], t: u64, width: usize) -> Row {
    let winner = upserts
        .iter()
        .filter(|(tick, _)| *tick <= t)
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    match winner {
        Some((_, Some(row))) => row.clone(),
        _ => vec![None; width],
    }
}

fn slot(row: &[Option<FieldValue>], slot: usize) -> Option<&FieldValue> {
    row.get(slot).and_then(Option::as_ref)
}

fn any_slot_differs(slots: &[usize], now: &[Option<FieldValue>], before: &[Option<FieldValue>]) -> bool {
    slots.iter().any(|&s| slot(now, s) != slot(before, s))
}

fn classify_user(world: &World<'_>, user: &str, input: &UserInput<'_>) -> Result<Vec<MembershipChange>, String> {
    let tick_ms = world.tick_ms;
    let observed: Vec<(u64, ObservedEvent)> = input
        .events
        .iter()
        .map(|(at, e)| {
            Ok((
                *at,
                ObservedEvent {
                    event_type: e.event_type as usize,
                    time_ms: to_i64(e.time, "event time")?,
                    id: e.id.clone(),
                    properties: e.properties.clone(),
                },
            ))
        })
        .collect::<Result<_, String>>()?;
    let visible_at = |t: u64| -> Vec<ObservedEvent> { observed.iter().filter(|(at, _)| *at <= t).map(|(_, e)| e.clone()).collect() };
    let event_ticks: BTreeSet<u64> = input.events.iter().map(|(at, _)| *at).collect();
    let upsert_ticks: BTreeSet<u64> = input.profiles.iter().chain(&input.stats).map(|(t, _)| *t).collect();
    let is_known = |t: u64| event_ticks.iter().chain(&upsert_ticks).any(|&k| k <= t);

    // Rule 5: candidate ticks.
    let mut candidates: BTreeSet<u64> = event_ticks.iter().chain(&upsert_ticks).copied().collect();
    candidates.extend(world.snapshots.iter().map(|s| s.tick));
    for snapshot in world.snapshots {
        for feature in snapshot.set.features() {
            let Some(window) = feature.window_ms.and_then(|w| u64::try_from(w).ok()) else {
                continue;
            };
            for (_, event) in &input.events {
                if feature.event_types().any(|t| t == event.event_type as usize) {
                    if let Some(expiry) = tick_of(event.time, tick_ms).checked_add(window) {
                        candidates.insert(expiry);
                    }
                }
            }
        }
    }

    let profile_width = world.schema.profile.len();
    let stats_width = world.schema.stats.len();
    let mut raw: BTreeMap<String, bool> = BTreeMap::new();
    let mut membership: BTreeSet<String> = BTreeSet::new();
    let mut changes = Vec::new();
    for t in candidates.into_iter().filter(|&t| is_known(t)) {
        let snapshot = world.snapshot_at(t);
        let set = &snapshot.set;
        let changed = world.changed_at(t);
        let now = to_i64(t, "tick")?;
        let tick = to_i64(tick_ms, "tick length")?;

        let values_t = compute_features(world.schema, set.features(), &visible_at(t), now, tick);
        let profile_t = record_at(&input.profiles, t, profile_width);
        let stats_t = record_at(&input.stats, t, stats_width);
        let (values_prev, profile_prev, stats_prev) = if t < tick_ms {
            (vec![None; values_t.len()], vec![None; profile_width], vec![None; stats_width])
        } else {
            (
                compute_features(world.schema, set.features(), &visible_at(t - tick_ms), now - tick, tick),
                record_at(&input.profiles, t - tick_ms, profile_width),
                record_at(&input.stats, t - tick_ms, stats_width),
            )
        };
        let has_event_now = event_ticks.contains(&t);

        raw.retain(|id, _| snapshot.defs.contains_key(id));
        let view = View {
            now,
            profile: (&profile_t).into(),
            stats: (&stats_t).into(),
            features: &values_t,
            event: &[],
            age: None,
        };
        for segment in set.segments() {
            let id = &segment.def.id;
            let reads = &segment.reads;
            let evaluate = !raw.contains_key(id)
                || changed.contains(id)
                || any_slot_differs(&reads.features, &values_t, &values_prev)
                || any_slot_differs(&reads.profile, &profile_t, &profile_prev)
                || any_slot_differs(&reads.stats, &stats_t, &stats_prev)
                || (reads.now && has_event_now);
            if evaluate {
                raw.insert(id.clone(), segment.program.matches(&view));
            }
        }

        let ids: Vec<&String> = set.segments().iter().map(|s| &s.def.id).collect();
        let raw_vector: Vec<bool> = ids.iter().map(|id| raw.get(*id).copied().unwrap_or(false)).collect();
        let previous: Vec<bool> = ids.iter().map(|id| membership.contains(*id)).collect();
        let mut merged = vec![false; ids.len()];
        snapshot.policy.apply(&raw_vector, &previous, &mut merged);
        let new_membership: BTreeSet<String> = ids.iter().zip(&merged).filter(|(_, m)| **m).map(|(id, _)| (*id).clone()).collect();

        for id in membership.difference(&new_membership) {
            changes.push(MembershipChange::from_update(user, id, t, -1));
        }
        for id in new_membership.difference(&membership) {
            changes.push(MembershipChange::from_update(user, id, t, 1));
        }
        membership = new_membership;
    }
    Ok(changes)
}
