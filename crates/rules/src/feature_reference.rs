//! The reference computation of features from a user's raw events.
//!
//! Contract: [`compute_features`] computes every feature slot from scratch, by brute
//! force, exactly as `docs/rules.md` defines it: an event at `ts` belongs to tick
//! `τ = ts − ts mod tick`; at time `now` a window `w` covers `now − w < τ ≤ now`; events
//! after `now` are not seen at all. It is the specification the incremental classifier
//! is tested against, and it powers `segstream rules eval`. Events must already be
//! deduplicated by id (see [`dedup_by_id`]). Sums of doubles add in (time, value) order;
//! an int sum that overflows 64 bits is missing.

use std::collections::{BTreeSet, HashSet};

use super::features::{FeatureKind, FeatureSpec};
use super::schema::Schema;
use super::types::Type;
use super::value::FieldValue;
use super::view::View;

/// One event of one user, with properties in its type's slot order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObservedEvent {
    /// Event type id in the schema.
    pub event_type: usize,
    /// Event time in epoch milliseconds.
    pub time_ms: i64,
    /// Unique event id.
    pub id: String,
    /// Property values by slot.
    pub properties: Vec<Option<FieldValue>>,
}

/// The tick an event time belongs to.
pub fn tick_of(time_ms: i64, tick_ms: i64) -> i64 {
    time_ms - time_ms.rem_euclid(tick_ms.max(1))
}

/// Keeps the first event of each id.
pub fn dedup_by_id(events: &[ObservedEvent]) -> Vec<ObservedEvent> {
    let mut seen = HashSet::new();
    events.iter().filter(|e| seen.insert(e.id.clone())).cloned().collect()
}

/// All feature values of one user at `now` (a tick boundary), by slot.
pub fn compute_features(
    schema: &Schema,
    specs: &[FeatureSpec],
    events: &[ObservedEvent],
    now: i64,
    tick_ms: i64,
) -> Vec<Option<FieldValue>> {
    let mut ordered: Vec<&ObservedEvent> = events.iter().filter(|e| tick_of(e.time_ms, tick_ms) <= now).collect();
    ordered.sort_by(|a, b| (a.time_ms, &a.id).cmp(&(b.time_ms, &b.id)));
    specs.iter().map(|spec| compute_one(schema, spec, &ordered, now, tick_ms)).collect()
}

fn compute_one(schema: &Schema, spec: &FeatureSpec, events: &[&ObservedEvent], now: i64, tick_ms: i64) -> Option<FieldValue> {
    let in_window = |e: &&&ObservedEvent| spec.window_ms.is_none_or(|w| now - w < tick_of(e.time_ms, tick_ms));
    let of_type = |t: usize| events.iter().filter(move |e| e.event_type == t);
    let windowed: Vec<&ObservedEvent> = of_type(spec.event_type).filter(in_window).copied().collect();
    let values = |prop: usize| windowed.iter().filter_map(move |e| e.properties.get(prop).cloned().flatten());
    // Doubles are added in (event time, value) order, which does not depend on arrival.
    let canonical = |prop: usize| {
        let mut timed: Vec<(u64, FieldValue)> = windowed
            .iter()
            .filter_map(|e| e.properties.get(prop).cloned().flatten().map(|v| (e.time_ms as u64, v)))
            .collect();
        timed.sort();
        timed.iter().map(|(_, v)| as_double(v)).collect::<Vec<f64>>()
    };
    let prop_type = |prop: usize| {
        schema
            .event_properties(spec.event_type)
            .and_then(|p| p.iter().nth(prop))
            .map(|(_, ft)| ft.ty.clone())
    };
    match spec.kind {
        FeatureKind::Count => {
            let passes = |e: &&&ObservedEvent| {
                spec.filter.as_ref().is_none_or(|f| {
                    f.program.eval_bool(&View {
                        now,
                        event: &e.properties,
                        ..View::default()
                    }) == Some(true)
                })
            };
            Some(FieldValue::Int(windowed.iter().filter(passes).count() as i64))
        }
        FeatureKind::Sum(prop) => Some(match prop_type(prop) {
            Some(Type::Int) => FieldValue::Int(i64::try_from(values(prop).map(|v| i128::from(as_int(&v))).sum::<i128>()).ok()?),
            _ => FieldValue::Double(canonical(prop).iter().sum()),
        }),
        FeatureKind::Min(prop) => values(prop).min(),
        FeatureKind::Max(prop) => values(prop).max(),
        FeatureKind::Avg(prop) => {
            let all = canonical(prop);
            (!all.is_empty()).then(|| FieldValue::Double(all.iter().sum::<f64>() / all.len() as f64))
        }
        FeatureKind::DistinctCount(prop) => Some(FieldValue::Int(values(prop).collect::<BTreeSet<_>>().len() as i64)),
        FeatureKind::Last(prop) => of_type(spec.event_type)
            .next_back()
            .and_then(|e| e.properties.get(prop).cloned().flatten()),
        FeatureKind::FirstSeen => of_type(spec.event_type)
            .map(|e| tick_of(e.time_ms, tick_ms))
            .min()
            .map(FieldValue::Timestamp),
        FeatureKind::LastSeen => of_type(spec.event_type)
            .map(|e| tick_of(e.time_ms, tick_ms))
            .max()
            .map(FieldValue::Timestamp),
        FeatureKind::SequenceThen(then) => {
            let first = windowed.iter().map(|e| tick_of(e.time_ms, tick_ms)).min();
            let last_then = of_type(then).filter(in_window).map(|e| tick_of(e.time_ms, tick_ms)).max();
            Some(FieldValue::Bool(matches!((first, last_then), (Some(a), Some(b)) if a <= b)))
        }
    }
}

fn as_int(v: &FieldValue) -> i64 {
    match v {
        FieldValue::Int(i) => *i,
        _ => 0,
    }
}

fn as_double(v: &FieldValue) -> f64 {
    match v {
        FieldValue::Int(i) => *i as f64,
        FieldValue::Double(d) => *d,
        _ => 0.0,
    }
}
