//! Per-user real-time features that segmentation functions read.
//!
//! Contract: each segmentation function in a rule (`count`, `sum`, `last`, …) becomes a
//! [`FeatureSpec`]; identical specs across all rules of a set share one slot in a
//! [`FeatureRegistry`], so the classifier maintains exactly the features the live rules
//! need, once each. A spec says which events it reads, over which window, and how it
//! folds them; its semantics are pinned down by the reference computation in
//! `feature_reference.rs`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::program::Program;

/// How a feature folds the events it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeatureKind {
    /// Number of events in the window (optionally filtered).
    Count,
    /// Sum of a property over the window.
    Sum(usize),
    /// Minimum of a property over the window.
    Min(usize),
    /// Maximum of a property over the window.
    Max(usize),
    /// Mean of a property over the window.
    Avg(usize),
    /// Number of distinct values of a property over the window.
    DistinctCount(usize),
    /// A property of the most recent event (not windowed).
    Last(usize),
    /// Tick of the first event (not windowed).
    FirstSeen,
    /// Tick of the most recent event (not windowed).
    LastSeen,
    /// Whether the event type is followed by this other event type within the window.
    SequenceThen(usize),
}

/// A compiled per-event predicate for filtered counts, keyed by its canonical text.
#[derive(Clone)]
pub struct EventFilter {
    /// Canonical source text (equal texts are the same filter).
    pub text: String,
    /// The compiled predicate over the event's properties.
    pub program: Arc<Program>,
}

impl fmt::Debug for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventFilter({})", self.text)
    }
}

impl PartialEq for EventFilter {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for EventFilter {}

impl std::hash::Hash for EventFilter {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for EventFilter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventFilter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

/// One feature: which events, which fold, which window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureSpec {
    /// The event type id it reads.
    pub event_type: usize,
    /// How it folds them.
    pub kind: FeatureKind,
    /// The window in milliseconds, for windowed kinds.
    pub window_ms: Option<i64>,
    /// Only events passing this filter count.
    pub filter: Option<EventFilter>,
}

impl FeatureSpec {
    /// The event type ids this feature reads.
    pub fn event_types(&self) -> impl Iterator<Item = usize> {
        let then = match self.kind {
            FeatureKind::SequenceThen(b) => Some(b),
            _ => None,
        };
        std::iter::once(self.event_type).chain(then)
    }
}

/// The distinct features used by a set of rules, each with a slot number.
#[derive(Clone, Debug, Default)]
pub struct FeatureRegistry {
    specs: Vec<FeatureSpec>,
    slots: HashMap<FeatureSpec, usize>,
}

impl FeatureRegistry {
    /// The slot of `spec`, adding it if new.
    pub fn intern(&mut self, spec: FeatureSpec) -> usize {
        if let Some(slot) = self.slots.get(&spec) {
            return *slot;
        }
        let slot = self.specs.len();
        self.slots.insert(spec.clone(), slot);
        self.specs.push(spec);
        slot
    }

    /// All features in slot order.
    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }
}

impl FeatureSpec {
    /// The feature as the rule text that declares it, with names from the schema.
    pub fn describe(&self, schema: &super::schema::Schema) -> String {
        let event = schema.event_name(self.event_type);
        let prop = |slot: usize| {
            schema
                .event_properties(self.event_type)
                .and_then(|p| p.names().nth(slot))
                .unwrap_or("?")
                .to_string()
        };
        let window = self.window_ms.map(segstream_time::format_duration).unwrap_or_default();
        match self.kind {
            FeatureKind::Count => match &self.filter {
                Some(filter) => format!("count({event:?}, {window:?}, {})", filter.text),
                None => format!("count({event:?}, {window:?})"),
            },
            FeatureKind::Sum(p) => format!("sum({event:?}, {:?}, {window:?})", prop(p)),
            FeatureKind::Min(p) => format!("min({event:?}, {:?}, {window:?})", prop(p)),
            FeatureKind::Max(p) => format!("max({event:?}, {:?}, {window:?})", prop(p)),
            FeatureKind::Avg(p) => format!("avg({event:?}, {:?}, {window:?})", prop(p)),
            FeatureKind::DistinctCount(p) => format!("distinct_count({event:?}, {:?}, {window:?})", prop(p)),
            FeatureKind::Last(p) => format!("last({event:?}).{}", prop(p)),
            FeatureKind::FirstSeen => format!("first_seen({event:?})"),
            FeatureKind::LastSeen => format!("last_seen({event:?})"),
            FeatureKind::SequenceThen(then) => format!("sequence({event:?}, {:?}, {window:?})", schema.event_name(then)),
        }
    }
}
