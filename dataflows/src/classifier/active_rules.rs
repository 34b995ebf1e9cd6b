//! The rule set in force on a worker, with the indexes the engine needs.
//!
//! Contract: [`ActiveRules::new`] compiles a set of definitions (sorted by id, so every
//! worker numbers segments and features identically) and indexes, for each event type,
//! the features that read it, and for each profile and stats field, the segments that
//! read it. [`ActiveRules::changed_since`] names the segments that are new or edited
//! relative to a previous set.

use std::collections::HashMap;

use super::feature_state::FeatureState;
use super::membership::Policy;
use segstream_rules::{FeatureSpec, FieldValue, Limits, RuleSet, Schema, SegmentDef, Type, UdfRegistry};

/// A compiled rule set plus its indexes.
#[derive(Clone)]
pub struct ActiveRules {
    /// The compiled set (segments sorted by id).
    pub set: RuleSet,
    /// Its merge policy.
    pub policy: Policy,
    /// For each event type id, the feature slots that read it.
    pub features_by_type: Vec<Vec<usize>>,
    /// For each profile slot, the segments that read it.
    pub profile_readers: Vec<Vec<usize>>,
    /// For each stats slot, the segments that read it.
    pub stats_readers: Vec<Vec<usize>>,
    /// Segments that read `now()`.
    pub now_readers: Vec<usize>,
    /// For each feature slot, whether its property is an int (for sums).
    pub int_property: Vec<bool>,
    /// For each feature slot, its value for a user with no events for it.
    pub empty_values: Vec<Option<FieldValue>>,
    /// The longest window of any feature (0 when none has one).
    pub longest_window_ms: u64,
}

impl ActiveRules {
    /// Compiles `defs` (any order); the error lists every problem.
    pub fn new(schema: &Schema, udfs: &UdfRegistry, mut defs: Vec<SegmentDef>) -> Result<ActiveRules, String> {
        defs.sort_by(|a, b| a.id.cmp(&b.id));
        let set = RuleSet::compile(schema, &defs, udfs, Limits::default()).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("segment {:?}: {}", defs.get(e.segment).map_or("?", |d| d.id.as_str()), e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let mut features_by_type = vec![Vec::new(); schema.event_count()];
        for (slot, spec) in set.features().iter().enumerate() {
            for event_type in spec.event_types() {
                if let Some(list) = features_by_type.get_mut(event_type) {
                    if !list.contains(&slot) {
                        list.push(slot);
                    }
                }
            }
        }
        let mut profile_readers = vec![Vec::new(); schema.profile.len()];
        let mut stats_readers = vec![Vec::new(); schema.stats.len()];
        let mut now_readers = Vec::new();
        for (i, segment) in set.segments().iter().enumerate() {
            segment.reads.profile.iter().for_each(|&slot| profile_readers[slot].push(i));
            segment.reads.stats.iter().for_each(|&slot| stats_readers[slot].push(i));
            if segment.reads.now {
                now_readers.push(i);
            }
        }
        let int_property: Vec<bool> = set.features().iter().map(|spec| property_is_int(schema, spec)).collect();
        let empty_values = set
            .features()
            .iter()
            .zip(&int_property)
            .map(|(spec, int)| FeatureState::new(spec, *int).value())
            .collect();
        let longest_window_ms = set
            .features()
            .iter()
            .filter_map(|spec| spec.window_ms.and_then(|w| u64::try_from(w).ok()))
            .max()
            .unwrap_or(0);
        Ok(ActiveRules {
            longest_window_ms,
            policy: Policy::new(&set),
            set,
            features_by_type,
            profile_readers,
            stats_readers,
            now_readers,
            int_property,
            empty_values,
        })
    }

    /// Segment indices of this set that are new or whose definition differs in `previous`.
    pub fn changed_since(&self, previous: Option<&ActiveRules>) -> Vec<usize> {
        let before: HashMap<&str, &SegmentDef> = previous.map_or_else(HashMap::new, |p| {
            p.set.segments().iter().map(|s| (s.def.id.as_str(), &s.def)).collect()
        });
        self.set
            .segments()
            .iter()
            .enumerate()
            .filter(|(_, s)| before.get(s.def.id.as_str()) != Some(&&s.def))
            .map(|(i, _)| i)
            .collect()
    }
}

fn property_is_int(schema: &Schema, spec: &FeatureSpec) -> bool {
    use segstream_rules::FeatureKind::{Avg, DistinctCount, Last, Max, Min, Sum};
    let prop = match spec.kind {
        Sum(p) | Min(p) | Max(p) | Avg(p) | DistinctCount(p) | Last(p) => p,
        _ => return false,
    };
    schema
        .event_properties(spec.event_type)
        .and_then(|props| props.iter().nth(prop))
        .is_some_and(|(_, ft)| ft.ty == Type::Int)
}
