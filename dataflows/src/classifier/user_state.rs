//! Everything a worker keeps about one user.
//!
//! Contract: feature states are keyed by the feature slots of the active rule set
//! (present only where the user has data, [`FeatureSlots`]), condition results and
//! membership are bits by its segment indices (one machine word for up to 62 segments,
//! inline); the engine re-indexes them when the set changes. `history` holds the user's recent raw
//! events in (time, id) order, from which features of newly added rules start.

use std::collections::VecDeque;

use smallbitvec::SmallBitVec;

use super::active_rules::ActiveRules;
use super::feature_slots::FeatureSlots;
use segstream_model::event::Row;
use segstream_rules::PackedRow;

/// A raw event kept for backfilling new features.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct HistoryEvent {
    /// Event time, ms.
    pub time: u64,
    /// Event id.
    pub id: Box<str>,
    /// Event type id.
    pub event_type: u32,
    /// Properties by slot.
    pub properties: Row,
}

/// One user's state on a worker.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct UserState {
    /// Current profile, if any (only its present fields).
    pub profile: Option<PackedRow>,
    /// Current stats, if any.
    pub stats: Option<PackedRow>,
    /// Feature states by slot; none until the user has an event for the feature, and
    /// again once its window is empty (the value is then the slot's empty value).
    pub features: FeatureSlots,
    /// Recent raw events, sorted by (time, id).
    pub history: VecDeque<HistoryEvent>,
    /// Condition results by segment index.
    #[serde(with = "super::bits")]
    pub raw: SmallBitVec,
    /// Whether `raw[i]` has been computed since segment `i` appeared.
    #[serde(with = "super::bits")]
    pub evaluated: SmallBitVec,
    /// Membership by segment index.
    #[serde(with = "super::bits")]
    pub member: SmallBitVec,
    /// The tick of this user's pending window-expiry timer.
    pub next_timer: Option<u64>,
    /// The tick of the user's last input (event or upsert); 0 for a user rebuilt only
    /// to evaluate a rule change. Eviction measures idleness from it.
    pub last_active: u64,
}

impl UserState {
    /// A new user under a rule set: no feature state allocated yet.
    pub fn new(rules: &ActiveRules) -> UserState {
        let segments = rules.set.segments().len();
        UserState {
            raw: SmallBitVec::from_elem(segments, false),
            evaluated: SmallBitVec::from_elem(segments, false),
            member: SmallBitVec::from_elem(segments, false),
            ..UserState::default()
        }
    }

    /// Adds an event to the history, keeping (time, id) order.
    pub fn remember(&mut self, event: HistoryEvent) {
        super::feature_state::make_room(&mut self.history);
        if self.history.back().is_none_or(|last| *last <= event) {
            self.history.push_back(event);
        } else {
            let at = self.history.partition_point(|e| *e <= event);
            self.history.insert(at, event);
        }
    }

    /// Drops history events whose tick is `keep_ms` or more before `now`.
    pub fn forget_before(&mut self, now: u64, keep_ms: u64, tick_ms: u64) {
        while let Some(front) = self.history.front() {
            let tick = front.time - front.time % tick_ms.max(1);
            if tick + keep_ms > now {
                break;
            }
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;
    use crate::classifier::feature_state::FeatureState;

    /// The per-user byte budget in `docs/architecture.md` ("State layout") holds these.
    #[test]
    fn the_state_layout_is_as_documented() {
        assert_eq!(size_of::<UserState>(), 168);
        assert_eq!(size_of::<(u32, FeatureState)>(), 64, "a feature slot entry");
        assert_eq!(size_of::<HistoryEvent>(), 56);
        assert_eq!(size_of::<SmallBitVec>(), 8, "inline up to 62 segments");
        assert_eq!(size_of::<Option<PackedRow>>(), 32, "a profile or stats row, inline");
        assert_eq!(size_of::<segstream_rules::FieldValue>(), 24, "a present profile or stats field");
    }
}
