//! A user's feature states, kept only for the features it has data for.
//!
//! Contract: [`FeatureSlots`] maps a feature slot of the active rule set to its
//! [`FeatureState`]; a slot without an entry has the slot's empty value. Entries are
//! `(slot, state)` sorted by slot in one vector, states inline (no box each).
//!
//! *Why not a vector indexed by slot:* the 43 example segments read 60-odd features, but a
//! user has data for a handful of them; a `Vec<Option<Box<_>>>` of every slot cost 8 bytes
//! per slot per user (~500 bytes at 1M users) plus a heap block per present state, and
//! the per-tick expiry check walked every slot. Here a user pays for the states it holds,
//! and the expiry check walks only them.
//!
//! ```
//! use segstream_dataflows::classifier::feature_slots::FeatureSlots;
//! use segstream_dataflows::classifier::feature_state::FeatureState;
//! let mut slots = FeatureSlots::default();
//! slots.get_or_insert_with(7, || FeatureState::FirstSeen(None));
//! slots.get_or_insert_with(2, || FeatureState::FirstSeen(None));
//! assert_eq!(slots.iter().map(|(slot, _)| slot).collect::<Vec<_>>(), [2, 7]);
//! slots.remove(7);
//! assert!(slots.get(7).is_none() && slots.get(2).is_some());
//! ```

use super::feature_state::FeatureState;

/// Feature states by slot, only where present (see the module contract).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FeatureSlots {
    entries: Vec<(u32, FeatureState)>,
}

impl FeatureSlots {
    fn position(&self, slot: usize) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&(slot as u32), |(s, _)| *s)
    }

    /// The state of `slot`, if the user has one.
    pub fn get(&self, slot: usize) -> Option<&FeatureState> {
        self.position(slot).ok().map(|i| &self.entries[i].1)
    }

    /// The state of `slot`, if the user has one, to change.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut FeatureState> {
        self.position(slot).ok().map(|i| &mut self.entries[i].1)
    }

    /// The state of `slot`, created by `new` if the user has none.
    pub fn get_or_insert_with(&mut self, slot: usize, new: impl FnOnce() -> FeatureState) -> &mut FeatureState {
        let at = match self.position(slot) {
            Ok(at) => at,
            Err(at) => {
                // Exactly as many as present: a user holds a handful to a few dozen
                // states, created far less often than events arrive, and doubling left
                // up to half of this vector of 64-byte entries spare.
                self.entries.reserve_exact(1);
                self.entries.insert(at, (slot as u32, new()));
                at
            }
        };
        &mut self.entries[at].1
    }

    /// Drops the state of `slot` (its value becomes the slot's empty value).
    pub fn remove(&mut self, slot: usize) {
        if let Ok(at) = self.position(slot) {
            self.entries.remove(at);
        }
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
    }

    /// `(slot, state)` of every present state, by slot.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &FeatureState)> {
        self.entries.iter().map(|(slot, state)| (*slot as usize, state))
    }

    /// Builds the states from `(slot, state)` pairs in any order.
    pub fn from_entries(entries: impl IntoIterator<Item = (usize, FeatureState)>) -> FeatureSlots {
        let mut entries: Vec<(u32, FeatureState)> = entries.into_iter().map(|(slot, state)| (slot as u32, state)).collect();
        entries.sort_by_key(|(slot, _)| *slot);
        entries.shrink_to_fit();
        FeatureSlots { entries }
    }

    /// Takes every state out, leaving none.
    pub fn take_all(&mut self) -> Vec<(usize, FeatureState)> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(slot, state)| (slot as usize, state))
            .collect()
    }
}
