//! Incremental state of one feature of one user.
//!
//! Contract: a [`FeatureState`] built for a [`FeatureSpec`] and fed, in any order, the
//! events of the types it reads ([`FeatureState::add`], each at a processing tick not
//! earlier than the event's own tick) and expired to the current tick
//! ([`FeatureState::expire`]) has the same [`FeatureState::value`] as the reference
//! computation `rules::compute_features` over the same events at that tick. `count`
//! keeps one (tick, events) bucket per tick with events in the window (a window holds
//! or drops a tick's events together, so the per-tick counts merge exactly); `min` and
//! `max` keep only the entries that can still be the answer (see [`Aggregate::Extreme`]);
//! the other windowed kinds keep the (time, value) of each event inside the window,
//! sorted, and maintain their aggregate as entries enter and leave; `double` sums are
//! re-added in (time, value) order when an entry leaves or arrives out of order, so they
//! are bit-identical to the reference.

use std::collections::{HashMap, VecDeque};

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

/// A double ordered by `total_cmp`, as `FieldValue` orders doubles (so entries sort in
/// the reference's (time, value) order).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct TotalF64(pub f64);

impl PartialEq for TotalF64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}

impl Eq for TotalF64 {}

impl PartialOrd for TotalF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TotalF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The entries of a min, max or distinct count and their aggregate.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WindowedEntries {
    /// (time, value) of each counted event in the window, sorted.
    pub entries: VecDeque<(u64, Option<FieldValue>)>,
    /// The aggregate over `entries`.
    pub aggregate: Aggregate,
}

/// An exact sum of 64-bit integers, as two words (an `i128` field would align every
/// feature state to 16 bytes and make it 16 bytes larger).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExactSum {
    high: i64,
    low: u64,
}

impl ExactSum {
    /// The sum.
    pub fn get(self) -> i128 {
        (i128::from(self.high) << 64) | i128::from(self.low)
    }

    fn set(&mut self, sum: i128) {
        // Splitting an i128 into its two words: both casts keep exactly the bits wanted.
        (self.high, self.low) = ((sum >> 64) as i64, sum as u64);
    }

    /// Adds `value` (negative to take it away).
    pub fn add(&mut self, value: i64) {
        self.set(self.get() + i128::from(value));
    }
}

/// Windowed aggregates over valued entries.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Aggregate {
    /// min (`false`) or max (`true`): the entries are only those no later entry
    /// outdoes (for max: none at a later or equal time has a value at least as large),
    /// so their values strictly fall (max) or rise (min) from the front, and the front
    /// is the answer. A later entry leaves the window no earlier, so an outdone entry
    /// can never be the answer again. *Why:* the window of `min("ad_watched",
    /// "duration_s", "7d")` held every event of seven days (32 bytes each, plus a
    /// multiset node); this holds the few that matter (for values in random order,
    /// about ln n of n), and each event costs amortised O(1).
    Extreme(bool),
    /// Multiset of values, for distinct counts.
    Distinct(HashMap<FieldValue, u32>),
}

/// The state of one feature of one user.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum FeatureState {
    /// count: the window's events per tick (16 bytes a tick, where an entry per event
    /// took 40).
    Count {
        /// (tick, events of that tick), sorted by tick.
        buckets: VecDeque<(u64, u32)>,
        /// The sum of the buckets.
        total: u64,
    },
    /// sum of an int property: the (time, value) of each counted event in the window,
    /// sorted, and their exact sum (missing when it does not fit 64 bits). 16 bytes an
    /// event, where a `(time, FieldValue)` entry took 32.
    SumInt {
        /// (time, value), sorted.
        entries: VecDeque<(u64, i64)>,
        /// The sum of the values.
        sum: ExactSum,
    },
    /// sum of a double property, or avg (`avg`) of any: the (time, value as a double)
    /// of each counted event in the window, sorted, and their left-to-right sum
    /// (divided by their number when read, for avg). 16 bytes an event.
    SumDouble {
        /// (time, value), sorted by both.
        entries: VecDeque<(u64, TotalF64)>,
        /// The left-to-right sum of the values.
        sum: f64,
        /// Whether the feature is the average.
        avg: bool,
    },
    /// min, max, distinct_count: the window's entries and their aggregate (boxed: the
    /// rarest and largest kind, which would make every feature state 16 bytes larger).
    Windowed(Box<WindowedEntries>),
    /// sequence(a, b, w): the ticks of `a` events inside the window, each once and
    /// sorted (the earliest is the answer, the next ones take over as it leaves), and
    /// the latest tick of a `b` event (it leaves the window last, so it is the only one
    /// that can matter); an entry per event before.
    Sequence {
        /// Distinct ticks of first-type events.
        first: VecDeque<u64>,
        /// The latest tick of a then-type event, if any in the window.
        then: Option<u64>,
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

/// Entries up to which a deque grows by exactly one at a time.
const EXACT_UP_TO: usize = 4;

/// Makes room for one more entry: exactly one while the deque is small, then as
/// `VecDeque` grows (doubling). *Why:* a `VecDeque`'s first push allocates room for
/// four entries, and most windows of most users hold one or two (the bench's users have
/// four events each), so three quarters of each window's block was spare.
pub(crate) fn make_room<T>(deque: &mut VecDeque<T>) {
    if deque.len() == deque.capacity() && deque.len() < EXACT_UP_TO {
        deque.reserve_exact(1);
    }
}

/// The index of the first entry of a sorted deque that `before` is false for: checked at
/// the back first, because events mostly arrive in time order (a binary search for every
/// event was 5 % of a file run).
fn insertion_point<T>(deque: &VecDeque<T>, before: impl Fn(&T) -> bool) -> usize {
    match deque.back() {
        Some(last) if !before(last) => deque.partition_point(before),
        _ => deque.len(),
    }
}

fn sorted_insert<T: Ord>(deque: &mut VecDeque<T>, item: T) -> bool {
    make_room(deque);
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
        let windowed = |aggregate| {
            FeatureState::Windowed(Box::new(WindowedEntries {
                entries: VecDeque::new(),
                aggregate,
            }))
        };
        match spec.kind {
            FeatureKind::Count => FeatureState::Count {
                buckets: VecDeque::new(),
                total: 0,
            },
            FeatureKind::Sum(_) if int_property => FeatureState::SumInt {
                entries: VecDeque::new(),
                sum: ExactSum::default(),
            },
            FeatureKind::Sum(_) | FeatureKind::Avg(_) => FeatureState::SumDouble {
                entries: VecDeque::new(),
                sum: empty_sum(),
                avg: matches!(spec.kind, FeatureKind::Avg(_)),
            },
            FeatureKind::Min(_) => windowed(Aggregate::Extreme(false)),
            FeatureKind::Max(_) => windowed(Aggregate::Extreme(true)),
            FeatureKind::DistinctCount(_) => windowed(Aggregate::Distinct(HashMap::new())),
            FeatureKind::SequenceThen(_) => FeatureState::Sequence {
                first: VecDeque::new(),
                then: None,
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
                let at = insertion_point(buckets, |(t, _)| *t < tick);
                match buckets.get_mut(at) {
                    Some((t, events)) if *t == tick => *events = events.saturating_add(1),
                    _ => {
                        make_room(buckets);
                        buckets.insert(at, (tick, 1));
                    }
                }
                *total += 1;
            }
            FeatureState::SumInt { entries, sum } => {
                let Some(value) = counted_value(spec, &event, in_window, now) else {
                    return;
                };
                let value = if let FieldValue::Int(i) = value { *i } else { 0 };
                sorted_insert(entries, (event.time, value));
                sum.add(value);
            }
            FeatureState::SumDouble { entries, sum, .. } => {
                let Some(value) = counted_value(spec, &event, in_window, now) else {
                    return;
                };
                let value = as_double(value);
                if sorted_insert(entries, (event.time, TotalF64(value))) {
                    *sum += value;
                } else {
                    *sum = resum(entries);
                }
            }
            FeatureState::Windowed(windowed) => {
                let Some(value) = counted_value(spec, &event, in_window, now) else {
                    return;
                };
                let WindowedEntries { entries, aggregate } = &mut **windowed;
                match aggregate {
                    Aggregate::Extreme(max) => insert_extreme(entries, event.time, value, *max),
                    Aggregate::Distinct(values) => {
                        sorted_insert(entries, (event.time, Some(value.clone())));
                        *values.entry(value.clone()).or_default() += 1;
                    }
                }
            }
            FeatureState::Sequence { first, then } => {
                if !in_window {
                    return;
                }
                if event.event_type as usize == spec.event_type {
                    let at = insertion_point(first, |t| *t < tick);
                    if first.get(at) != Some(&tick) {
                        make_room(first);
                        first.insert(at, tick);
                    }
                }
                if let FeatureKind::SequenceThen(b) = spec.kind {
                    if event.event_type as usize == b && then.is_none_or(|latest| latest < tick) {
                        *then = Some(tick);
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
            FeatureState::SumInt { entries, sum } => {
                while let Some(&(_, value)) = entries.front().filter(|(time, _)| expired(*time)) {
                    sum.add(-value);
                    entries.pop_front();
                }
            }
            FeatureState::SumDouble { entries, sum, .. } => {
                let before = entries.len();
                while entries.front().is_some_and(|(time, _)| expired(*time)) {
                    entries.pop_front();
                }
                if entries.len() != before {
                    *sum = resum(entries);
                }
            }
            FeatureState::Windowed(windowed) => {
                let WindowedEntries { entries, aggregate } = &mut **windowed;
                while let Some((_, value)) = entries.front().filter(|(time, _)| expired(*time)) {
                    if let (Aggregate::Distinct(values), Some(v)) = (&mut *aggregate, value) {
                        if let Some(n) = values.get_mut(v) {
                            *n -= 1;
                            if *n == 0 {
                                values.remove(v);
                            }
                        }
                    }
                    entries.pop_front();
                }
            }
            FeatureState::Sequence { first, then } => {
                while first.front().is_some_and(|t| t + w <= now) {
                    first.pop_front();
                }
                if then.is_some_and(|t| t + w <= now) {
                    *then = None;
                }
            }
            _ => {}
        }
    }

    /// Whether the state holds nothing (its value is that of a new state).
    pub fn is_empty(&self) -> bool {
        match self {
            FeatureState::Count { buckets, .. } => buckets.is_empty(),
            FeatureState::SumInt { entries, .. } => entries.is_empty(),
            FeatureState::SumDouble { entries, .. } => entries.is_empty(),
            FeatureState::Windowed(windowed) => windowed.entries.is_empty(),
            FeatureState::Sequence { first, then } => first.is_empty() && then.is_none(),
            FeatureState::Last(best) => best.is_none(),
            FeatureState::FirstSeen(tick) | FeatureState::LastSeen(tick) => tick.is_none(),
        }
    }

    /// The tick at which the next entry leaves the window, if any.
    pub fn next_expiry(&self, spec: &FeatureSpec, ticks: Ticks) -> Option<u64> {
        let w = spec.window_ms? as u64;
        match self {
            FeatureState::Count { buckets, .. } => buckets.front().map(|(tick, _)| tick + w),
            FeatureState::SumInt { entries, .. } => entries.front().map(|(time, _)| ticks.of(*time) + w),
            FeatureState::SumDouble { entries, .. } => entries.front().map(|(time, _)| ticks.of(*time) + w),
            FeatureState::Windowed(windowed) => windowed.entries.front().map(|(time, _)| ticks.of(*time) + w),
            FeatureState::Sequence { first, then } => first.front().copied().into_iter().chain(*then).min().map(|t| t + w),
            _ => None,
        }
    }

    /// The feature's value.
    pub fn value(&self) -> Option<FieldValue> {
        match self {
            FeatureState::Count { total, .. } => Some(FieldValue::Int(*total as i64)),
            FeatureState::SumInt { sum, .. } => i64::try_from(sum.get()).ok().map(FieldValue::Int),
            FeatureState::SumDouble { sum, avg: false, .. } => Some(FieldValue::Double(*sum)),
            FeatureState::SumDouble { entries, sum, avg: true } => {
                (!entries.is_empty()).then(|| FieldValue::Double(*sum / entries.len() as f64))
            }
            FeatureState::Windowed(windowed) => match &windowed.aggregate {
                Aggregate::Extreme(_) => windowed.entries.front().and_then(|(_, v)| v.clone()),
                Aggregate::Distinct(values) => Some(FieldValue::Int(values.len() as i64)),
            },
            FeatureState::Sequence { first, then } => Some(FieldValue::Bool(matches!((first.front(), then), (Some(a), Some(b)) if a <= b))),
            FeatureState::Last(best) => best.as_ref().and_then(|(_, _, v)| v.clone()),
            FeatureState::FirstSeen(tick) | FeatureState::LastSeen(tick) => tick.map(|t| FieldValue::Timestamp(t as i64)),
        }
    }
}

/// The property value a windowed feature over a property counts, if the event counts
/// (in the window, selected) and has it.
fn counted_value<'a>(spec: &FeatureSpec, event: &FeatureInput<'a>, in_window: bool, now: u64) -> Option<&'a FieldValue> {
    let property = match spec.kind {
        FeatureKind::Sum(p) | FeatureKind::Avg(p) | FeatureKind::Min(p) | FeatureKind::Max(p) | FeatureKind::DistinctCount(p) => p,
        _ => return None,
    };
    if !in_window || !selects(spec, event, now) {
        return None;
    }
    event.properties.get(property).and_then(Option::as_ref)
}

/// The sum of no doubles, as the reference's `iter().sum()` gives it (-0.0).
fn empty_sum() -> f64 {
    [0.0f64; 0].iter().sum()
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

/// Adds `(time, value)` to the entries of a min or max ([`Aggregate::Extreme`]): it is
/// dropped if a later entry outdoes it, and the earlier entries it outdoes are dropped.
fn insert_extreme(entries: &mut VecDeque<(u64, Option<FieldValue>)>, time: u64, value: &FieldValue, max: bool) {
    // Whether `a` is at least as good an answer as `b`.
    let outdoes = |a: &FieldValue, b: &FieldValue| if max { a >= b } else { a <= b };
    let at = insertion_point(entries, |(t, _)| *t <= time);
    if entries
        .get(at)
        .and_then(|(_, v)| v.as_ref())
        .is_some_and(|later| outdoes(later, value))
    {
        return;
    }
    let mut from = at;
    while from > 0 && entries[from - 1].1.as_ref().is_none_or(|earlier| outdoes(value, earlier)) {
        from -= 1;
    }
    entries.drain(from..at);
    make_room(entries);
    entries.insert(from, (time, Some(value.clone())));
}

/// The left-to-right sum of the entries, which are in (time, value) order.
fn resum(entries: &VecDeque<(u64, TotalF64)>) -> f64 {
    entries.iter().map(|(_, v)| v.0).sum()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use segstream_rules::{compute_features, ObservedEvent, Schema, SegmentDef, SegmentKind, UdfRegistry};

    use super::*;
    use crate::classifier::active_rules::ActiveRules;

    const TICK_MS: u64 = 100;

    /// One feature of each windowed kind over a 2 s window, compiled as the engine does.
    fn rules() -> (Schema, ActiveRules) {
        let schema = Schema::from_toml("[events.buy]\namount = \"double\"\nqty = \"int\"\n[events.shown]\n[events.clicked]\n")
            .unwrap_or_else(|e| panic!("{e:?}"));
        let conditions = [
            r#"max("buy", "amount", "2s") > 0.0"#,
            r#"min("buy", "qty", "2s") > 0"#,
            r#"min("buy", "amount", "2s") > 0.0"#,
            r#"avg("buy", "amount", "2s") > 0.0"#,
            r#"sum("buy", "qty", "2s") > 0"#,
            r#"sum("buy", "amount", "2s") > 0.0"#,
            r#"distinct_count("buy", "qty", "2s") > 0"#,
            r#"sequence("shown", "clicked", "2s")"#,
            r#"count("clicked", "2s") > 0"#,
        ];
        let defs = conditions
            .iter()
            .enumerate()
            .map(|(i, when)| SegmentDef {
                id: format!("s{i}"),
                name: format!("s{i}"),
                description: String::new(),
                kind: SegmentKind::Dynamic,
                group: None,
                priority: None,
                parent: None,
                when: (*when).into(),
            })
            .collect();
        let rules = ActiveRules::new(&schema, &UdfRegistry::new(), defs).unwrap_or_else(|e| panic!("{e}"));
        (schema, rules)
    }

    #[test]
    fn an_exact_sum_keeps_every_bit_past_64_bits_and_below_zero() {
        let mut sum = ExactSum::default();
        for value in [i64::MAX, i64::MAX, 5] {
            sum.add(value);
        }
        assert_eq!(sum.get(), 2 * i128::from(i64::MAX) + 5);
        for value in [i64::MIN, i64::MIN, i64::MIN, -7] {
            sum.add(value);
        }
        assert_eq!(sum.get(), 2 * i128::from(i64::MAX) + 5 + 3 * i128::from(i64::MIN) - 7);
        // Back up: 5 × MAX + 3 × MIN, and MIN is −MAX − 1.
        for value in [i64::MAX, i64::MAX, i64::MAX, -5, 7] {
            sum.add(value);
        }
        assert_eq!(sum.get(), 2 * i128::from(i64::MAX) - 3);
    }

    /// (type, time, amount, qty): few distinct values, so ties are common.
    fn arrivals() -> impl Strategy<Value = Vec<(usize, u64, u8, u8)>> {
        prop::collection::vec((0usize..3, 0u64..6_000, 0u8..5, 0u8..4), 1..60)
    }

    proptest! {
        /// Events arrive in any order, each at the processing tick where it is seen
        /// (never before its own tick: late ones come later), the window expires as the
        /// tick moves; after every event each feature equals the reference computed
        /// from scratch over everything seen so far.
        #[test]
        fn windowed_features_equal_the_reference_for_any_arrival(arrivals in arrivals(), lateness in prop::collection::vec(0u64..2_500, 60)) {
            let (schema, rules) = rules();
            let ticks = Ticks { tick_ms: TICK_MS };
            let specs = rules.set.features();
            let mut states: Vec<FeatureState> =
                specs.iter().zip(&rules.int_property).map(|(spec, int)| FeatureState::new(spec, *int)).collect();
            let mut seen: Vec<ObservedEvent> = Vec::new();
            let mut now = 0;
            for (n, &(event_type, time, amount, qty)) in arrivals.iter().enumerate() {
                now = ticks.of(time + lateness[n]).max(now);
                let properties: Row = match event_type {
                    0 => vec![Some(FieldValue::Double(f64::from(amount) * 0.1 + 0.3)), Some(FieldValue::Int(i64::from(qty)))],
                    _ => vec![],
                };
                let id = format!("e{n}");
                for (spec, state) in specs.iter().zip(&mut states) {
                    state.expire(spec, now, ticks);
                    if spec.event_types().any(|t| t == event_type) {
                        let input = FeatureInput { event_type: event_type as u32, time, id: &id, properties: &properties };
                        state.add(spec, input, now, ticks);
                    }
                }
                seen.push(ObservedEvent { event_type, time_ms: time as i64, id, properties });
                let expected = compute_features(&schema, specs, &seen, now as i64, TICK_MS as i64);
                for (slot, state) in states.iter().enumerate() {
                    let empty = rules.empty_values[slot].clone();
                    let got = if state.is_empty() { empty } else { state.value() };
                    prop_assert_eq!(&got, &expected[slot], "slot {} ({:?}) at {} after {} events", slot, specs[slot].kind, now, n + 1);
                }
            }
        }
    }
}
