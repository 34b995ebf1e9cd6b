//! Incremental state of one feature of one user.
//!
//! Contract: a [`FeatureState`] built for a [`FeatureSpec`] and fed, in any order, the
//! events of the types it reads ([`FeatureState::add`], each at a processing tick not
//! earlier than the event's own tick) and expired to the current tick
//! ([`FeatureState::expire`]) has the same [`FeatureState::value`] as the reference
//! computation `rules::compute_features` over the same events at that tick. `count`
//! keeps one (tick, events) bucket per tick with events in the window (a window holds
//! or drops a tick's events together, so the per-tick counts merge exactly); the other
//! windowed kinds keep the (time, value) of each event inside the window, sorted, and
//! maintain their aggregate as entries enter and leave; `double` sums are re-added in
//! (time, value) order when an entry leaves or arrives out of order, so they are
//! bit-identical to the reference.

use std::collections::{BTreeMap, HashMap, VecDeque};

use segstream_model::event::Row;
use segstream_rules::{FeatureKind, FeatureSpec, FieldValue, View};

/// An event as features see it.
#[derive(Clone, Copy, Debug)]
pub struct FeatureInput<'a> {
    /// Event type id.
    pub event_type: u32,
    /// Event time, ms.
    pub time: u64,
    /// Event id (for `last` ties).
    pub id: &'a str,
    /// Properties by slot.
    pub properties: &'a Row,
}

/// Tick arithmetic shared by all features.
#[derive(Clone, Copy, Debug)]
pub struct Ticks {
    /// Tick length in ms.
    pub tick_ms: u64,
}

impl Ticks {
    fn of(self, time: u64) -> u64 {
        time - time % self.tick_ms.max(1)
    }
}

/// Windowed aggregates over valued entries.
#[derive(Clone, Debug)]
pub enum Aggregate {
    /// Exact integer sum (missing when it does not fit 64 bits).
    SumInt(i128),
    /// Left-to-right sum of the entries in (time, value) order.
    SumDouble(f64),
    /// The same sum, divided by the number of entries when read.
    Avg(f64),
    /// Multiset of values, for min and max.
    Ordered(BTreeMap<FieldValue, u32>),
    /// Multiset of values, for distinct counts.
    Distinct(HashMap<FieldValue, u32>),
}

/// The state of one feature of one user.
#[derive(Clone, Debug)]
pub enum FeatureState {
    /// count: the window's events per tick (16 bytes a tick, where an entry per event
    /// took 40).
    Count {
        /// (tick, events of that tick), sorted by tick.
        buckets: VecDeque<(u64, u32)>,
        /// The sum of the buckets.
        total: u64,
    },
    /// sum, min, max, avg, distinct_count: the window's entries and their aggregate.
    Windowed {
        /// (time, value) of each counted event in the window, sorted.
        entries: VecDeque<(u64, Option<FieldValue>)>,
        /// The aggregate over `entries`.
        aggregate: Aggregate,
    },
    /// sequence(a, b, w): ticks of `a` and of `b` events inside the window, sorted.
    Sequence {
        /// Ticks of first-type events.
        first: VecDeque<u64>,
        /// Ticks of then-type events.
        then: VecDeque<u64>,
    },
    /// last(t).p: (time, id, value) of the most recent event.
    Last(Option<(u64, Box<str>, Option<FieldValue>)>),
    /// first_seen(t): the earliest tick.
    FirstSeen(Option<u64>),
    /// last_seen(t): the latest tick.
    LastSeen(Option<u64>),
}

fn as_double(value: &FieldValue) -> f64 {
    match value {
        FieldValue::Int(i) => *i as f64,
        FieldValue::Double(d) => *d,
        _ => 0.0,
    }
}

fn sorted_insert<T: Ord>(deque: &mut VecDeque<T>, item: T) -> bool {
    if deque.back().is_none_or(|back| *back <= item) {
        deque.push_back(item);
        true
    } else {
        let at = deque.partition_point(|x| *x <= item);
        deque.insert(at, item);
        false
    }
}

impl FeatureState {
    /// An empty state for a spec.
    pub fn new(spec: &FeatureSpec, int_property: bool) -> FeatureState {
        let windowed = |aggregate| FeatureState::Windowed {
            entries: VecDeque::new(),
            aggregate,
        };
        match spec.kind {
            FeatureKind::Count => FeatureState::Count {
                buckets: VecDeque::new(),
                total: 0,
            },
            FeatureKind::Sum(_) if int_property => windowed(Aggregate::SumInt(0)),
            FeatureKind::Sum(_) => windowed(Aggregate::SumDouble([0.0f64; 0].iter().sum())),
            FeatureKind::Avg(_) => windowed(Aggregate::Avg([0.0f64; 0].iter().sum())),
            FeatureKind::Min(_) | FeatureKind::Max(_) => windowed(Aggregate::Ordered(BTreeMap::new())),
            FeatureKind::DistinctCount(_) => windowed(Aggregate::Distinct(HashMap::new())),
            FeatureKind::SequenceThen(_) => FeatureState::Sequence {
                first: VecDeque::new(),
                then: VecDeque::new(),
            },
            FeatureKind::Last(_) => FeatureState::Last(None),
            FeatureKind::FirstSeen => FeatureState::FirstSeen(None),
            FeatureKind::LastSeen => FeatureState::LastSeen(None),
        }
    }

    /// Adds an event of a type the spec reads, seen at processing tick `now`.
    pub fn add(&mut self, spec: &FeatureSpec, event: FeatureInput<'_>, now: u64, ticks: Ticks) {
        let tick = ticks.of(event.time);
        let in_window = spec
            .window_ms
            .is_none_or(|w| now.saturating_sub(w as u64) < tick || (w as u64) > now);
        match self {
            FeatureState::Count { buckets, total } => {
                if !in_window || !selects(spec, &event, now) {
                    return;
                }
                let at = buckets.partition_point(|(t, _)| *t < tick);
                match buckets.get_mut(at) {
                    Some((t, events)) if *t == tick => *events = events.saturating_add(1),
                    _ => buckets.insert(at, (tick, 1)),
                }
                *total += 1;
            }
            FeatureState::Windowed { entries, aggregate } => {
                if !in_window || !selects(spec, &event, now) {
                    return;
                }
                let value = match spec.kind {
                    FeatureKind::Sum(p)
                    | FeatureKind::Avg(p)
                    | FeatureKind::Min(p)
                    | FeatureKind::Max(p)
                    | FeatureKind::DistinctCount(p) => match event.properties.get(p).cloned().flatten() {
                        Some(value) => Some(value),
                        None => return,
                    },
                    _ => return,
                };
                let appended = sorted_insert(entries, (event.time, value.clone()));
                match (aggregate, value) {
                    (Aggregate::SumInt(sum), Some(v)) => *sum += i128::from(if let FieldValue::Int(i) = v { i } else { 0 }),
                    (Aggregate::SumDouble(sum) | Aggregate::Avg(sum), Some(v)) if appended => *sum += as_double(&v),
                    (Aggregate::SumDouble(sum) | Aggregate::Avg(sum), Some(_)) => *sum = resum(entries),
                    (Aggregate::Ordered(values), Some(v)) => *values.entry(v).or_default() += 1,
                    (Aggregate::Distinct(values), Some(v)) => *values.entry(v).or_default() += 1,
                    _ => {}
                }
            }
            FeatureState::Sequence { first, then } => {
                if !in_window {
                    return;
                }
                if event.event_type as usize == spec.event_type {
                    sorted_insert(first, tick);
                }
                if let FeatureKind::SequenceThen(b) = spec.kind {
                    if event.event_type as usize == b {
                        sorted_insert(then, tick);
                    }
                }
            }
            FeatureState::Last(best) => {
                if let FeatureKind::Last(p) = spec.kind {
                    let newer = best
                        .as_ref()
                        .is_none_or(|(time, id, _)| (event.time, event.id) > (*time, id.as_ref()));
                    if newer {
                        *best = Some((event.time, event.id.into(), event.properties.get(p).cloned().flatten()));
                    }
                }
            }
            FeatureState::FirstSeen(first) => *first = Some(first.map_or(tick, |f| f.min(tick))),
            FeatureState::LastSeen(last) => *last = Some(last.map_or(tick, |l| l.max(tick))),
        }
    }

    /// Drops what has left the window at tick `now`.
    pub fn expire(&mut self, spec: &FeatureSpec, now: u64, ticks: Ticks) {
        let Some(w) = spec.window_ms.map(|w| w as u64) else { return };
        let expired = |time: u64| ticks.of(time) + w <= now;
        match self {
            FeatureState::Count { buckets, total } => {
                while let Some(&(tick, events)) = buckets.front() {
                    if tick + w > now {
                        break;
                    }
                    *total -= u64::from(events);
                    buckets.pop_front();
                }
            }
            FeatureState::Windowed { entries, aggregate } => {
                let mut popped = false;
                while let Some((time, value)) = entries.front() {
                    if !expired(*time) {
                        break;
                    }
                    popped = true;
                    match (&mut *aggregate, value) {
                        (Aggregate::SumInt(sum), Some(FieldValue::Int(i))) => *sum -= i128::from(*i),
                        (Aggregate::Ordered(values), Some(v)) => remove_one(values, v),
                        (Aggregate::Distinct(values), Some(v)) => {
                            if let Some(n) = values.get_mut(v) {
                                *n -= 1;
                                if *n == 0 {
                                    values.remove(v);
                                }
                            }
                        }
                        _ => {}
                    }
                    entries.pop_front();
                }
                if popped {
                    if let Aggregate::SumDouble(sum) | Aggregate::Avg(sum) = aggregate {
                        *sum = resum(entries);
                    }
                }
            }
            FeatureState::Sequence { first, then } => {
                while first.front().is_some_and(|t| t + w <= now) {
                    first.pop_front();
                }
                while then.front().is_some_and(|t| t + w <= now) {
                    then.pop_front();
                }
            }
            _ => {}
        }
    }

    /// Whether the state holds nothing (its value is that of a new state).
    pub fn is_empty(&self) -> bool {
        match self {
            FeatureState::Count { buckets, .. } => buckets.is_empty(),
            FeatureState::Windowed { entries, .. } => entries.is_empty(),
            FeatureState::Sequence { first, then } => first.is_empty() && then.is_empty(),
            FeatureState::Last(best) => best.is_none(),
            FeatureState::FirstSeen(tick) | FeatureState::LastSeen(tick) => tick.is_none(),
        }
    }

    /// The tick at which the next entry leaves the window, if any.
    pub fn next_expiry(&self, spec: &FeatureSpec, ticks: Ticks) -> Option<u64> {
        let w = spec.window_ms? as u64;
        match self {
            FeatureState::Count { buckets, .. } => buckets.front().map(|(tick, _)| tick + w),
            FeatureState::Windowed { entries, .. } => entries.front().map(|(time, _)| ticks.of(*time) + w),
            FeatureState::Sequence { first, then } => first.front().into_iter().chain(then.front()).min().map(|t| t + w),
            _ => None,
        }
    }

    /// The feature's value.
    pub fn value(&self, spec: &FeatureSpec) -> Option<FieldValue> {
        match self {
            FeatureState::Count { total, .. } => Some(FieldValue::Int(*total as i64)),
            FeatureState::Windowed { entries, aggregate } => match aggregate {
                Aggregate::SumInt(sum) => i64::try_from(*sum).ok().map(FieldValue::Int),
                Aggregate::SumDouble(sum) => Some(FieldValue::Double(*sum)),
                Aggregate::Avg(sum) => (!entries.is_empty()).then(|| FieldValue::Double(*sum / entries.len() as f64)),
                Aggregate::Ordered(values) => match spec.kind {
                    FeatureKind::Max(_) => values.keys().next_back().cloned(),
                    _ => values.keys().next().cloned(),
                },
                Aggregate::Distinct(values) => Some(FieldValue::Int(values.len() as i64)),
            },
            FeatureState::Sequence { first, then } => Some(FieldValue::Bool(
                matches!((first.front(), then.back()), (Some(a), Some(b)) if a <= b),
            )),
            FeatureState::Last(best) => best.as_ref().and_then(|(_, _, v)| v.clone()),
            FeatureState::FirstSeen(tick) | FeatureState::LastSeen(tick) => tick.map(|t| FieldValue::Timestamp(t as i64)),
        }
    }
}

/// Whether an event in the window counts for a windowed feature: its type, and the
/// spec's filter on its properties.
fn selects(spec: &FeatureSpec, event: &FeatureInput<'_>, now: u64) -> bool {
    if event.event_type as usize != spec.event_type {
        return false;
    }
    spec.filter.as_ref().is_none_or(|filter| {
        let view = View {
            now: now as i64,
            event: event.properties,
            ..View::default()
        };
        filter.program.eval_bool(&view) == Some(true)
    })
}

fn remove_one(values: &mut BTreeMap<FieldValue, u32>, value: &FieldValue) {
    if let Some(n) = values.get_mut(value) {
        *n -= 1;
        if *n == 0 {
            values.remove(value);
        }
    }
}

/// The left-to-right sum of the entries, which are in (time, value) order.
fn resum(entries: &VecDeque<(u64, Option<FieldValue>)>) -> f64 {
    entries.iter().filter_map(|(_, v)| v.as_ref()).map(as_double).sum()
}
