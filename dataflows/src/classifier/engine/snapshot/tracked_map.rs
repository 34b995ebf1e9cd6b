//! The engine's users (or dormant records) by id in dense order, saved as of one
//! moment while they keep changing.
//!
//! Contract: a [`TrackedMap`] reads as the `IndexMap` it wraps (`Deref`); it changes
//! only through its own methods. [`TrackedMap::begin_walk`] starts saving the entries
//! as they are at that moment; [`TrackedMap::walk_some`] saves up to a budget of them
//! at a time, in dense order, each as `(index at the start, key group, id, value)`; and
//! until the walk is done, every change to an entry not yet saved (a value borrowed
//! mutably, replaced or removed) saves that entry first — copy-on-write, one entry at a
//! time. Entries added after the start are not saved. So the walk's section holds
//! exactly the entries at the start, each once, with its index then; sorted by that
//! index they are the map as it was. What the walk costs a change: one bit test, and
//! one entry's encoding the first time that entry changes.
//!
//! *Why the index is saved:* entries are removed by `swap_remove`, which moves the last
//! entry into the hole; the engine's eviction sweep walks dense indices, so a restored
//! engine must hold its users in the same order to evict at the same ticks. A removal
//! during a walk saves the moved entry too (its index changes), so an entry not yet
//! saved is always at its index at the start.

use std::ops::Deref;

use indexmap::IndexMap;
use serde::Serialize;

use crate::classifier::section::Section;
use crate::classifier::FastHash;
use segstream_model::key_group::key_group;

/// A map of entries by id in dense order (see the module contract).
pub(crate) struct TrackedMap<V> {
    map: IndexMap<Box<str>, V, FastHash>,
    walk: Option<Walk>,
}

/// A walk in progress.
struct Walk {
    /// Bit `i`: the entry at dense index `i` is not saved yet (and is where it was at
    /// the start).
    unsaved: Vec<u64>,
    /// Entries below this index now are saved or were added since.
    cursor: usize,
    saved: Section,
}

impl Walk {
    fn is_unsaved(&self, index: usize) -> bool {
        self.unsaved.get(index / 64).is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    fn set_unsaved(&mut self, index: usize, unsaved: bool) {
        if let Some(word) = self.unsaved.get_mut(index / 64) {
            match unsaved {
                true => *word |= 1 << (index % 64),
                false => *word &= !(1 << (index % 64)),
            }
        }
    }

    /// Saves the entry at `index`, as `(index, key group, id, value)`.
    fn save<V: Serialize>(&mut self, index: usize, entry: Option<(&str, &V)>) {
        if let Some((name, value)) = entry {
            // Dense indices fit 32 bits: a worker holds far fewer than 4 billion users.
            self.saved.push(&(index as u32, key_group(name), name, value));
        }
        self.set_unsaved(index, false);
    }
}

impl<V> Default for TrackedMap<V> {
    fn default() -> Self {
        TrackedMap {
            map: IndexMap::default(),
            walk: None,
        }
    }
}

impl<V> Deref for TrackedMap<V> {
    type Target = IndexMap<Box<str>, V, FastHash>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<V: Serialize> TrackedMap<V> {
    /// Saves the entry at `index` if the walk has not yet.
    fn preserve(&mut self, index: usize) {
        if let Some(walk) = self.walk.as_mut().filter(|w| w.is_unsaved(index)) {
            walk.save(index, self.map.get_index(index).map(|(name, value)| (&**name, value)));
        }
    }

    /// The value of `name`, to change.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        let index = self.map.get_index_of(name)?;
        self.preserve(index);
        self.map.get_index_mut(index).map(|(_, value)| value)
    }

    /// The entry at `index`, its value to change.
    pub(crate) fn get_index_mut(&mut self, index: usize) -> Option<(&str, &mut V)> {
        self.preserve(index);
        self.map.get_index_mut(index).map(|(name, value)| (&**name, value))
    }

    /// Sets `name`'s value: in place if it is held, else as a new last entry.
    pub(crate) fn insert(&mut self, name: Box<str>, value: V) {
        if let Some(index) = self.map.get_index_of(&name) {
            self.preserve(index);
        }
        self.map.insert(name, value);
    }

    /// Removes the entry at `index`, moving the last entry into its place.
    pub(crate) fn swap_remove_index(&mut self, index: usize) -> Option<(Box<str>, V)> {
        self.preserve(index);
        self.preserve(self.map.len().checked_sub(1)?);
        self.map.swap_remove_index(index)
    }

    /// Removes `name`'s entry (see [`TrackedMap::swap_remove_index`]).
    pub(crate) fn swap_remove_entry(&mut self, name: &str) -> Option<(Box<str>, V)> {
        let index = self.map.get_index_of(name)?;
        self.swap_remove_index(index)
    }

    /// Entries loaded into a map with no walk in progress (a restore); `expected` of
    /// them at most, room for which is made at once.
    pub(crate) fn extend(&mut self, entries: impl IntoIterator<Item = (Box<str>, V)>, expected: usize) {
        debug_assert!(self.walk.is_none(), "loaded while a walk is in progress");
        self.map.reserve(expected);
        self.map.extend(entries);
    }

    /// Starts saving the entries as they are now (see the module contract); a walk in
    /// progress is dropped.
    pub(crate) fn begin_walk(&mut self) {
        let len = self.map.len();
        let mut unsaved = vec![u64::MAX; len.div_ceil(64)];
        if let Some(last) = unsaved.last_mut().filter(|_| !len.is_multiple_of(64)) {
            *last = (1u64 << (len % 64)) - 1;
        }
        self.walk = Some(Walk {
            unsaved,
            cursor: 0,
            saved: Section::default(),
        });
    }

    /// Saves up to `budget` entries of the walk, in dense order; the budget left, and
    /// the section once every entry is saved (the walk is then over).
    pub(crate) fn walk_some(&mut self, mut budget: usize) -> (usize, Option<Section>) {
        let Some(walk) = self.walk.as_mut() else { return (budget, None) };
        let mut cursor = walk.cursor;
        while budget > 0 {
            // Skip words of saved entries at once.
            match walk.unsaved.get(cursor / 64) {
                None => break,
                Some(0) => {
                    cursor = (cursor / 64 + 1) * 64;
                    continue;
                }
                Some(_) => {}
            }
            if walk.is_unsaved(cursor) {
                walk.save(cursor, self.map.get_index(cursor).map(|(name, value)| (&**name, value)));
                budget -= 1;
            }
            cursor += 1;
        }
        walk.cursor = cursor;
        if cursor / 64 < walk.unsaved.len() {
            return (budget, None);
        }
        (budget, self.walk.take().map(|w| w.saved))
    }

    /// Whether a walk is in progress.
    #[cfg(test)]
    pub(crate) fn walking(&self) -> bool {
        self.walk.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A change to the map: set a value, bump one, remove one, add a new entry.
    #[derive(Clone, Debug)]
    enum Change {
        Bump(usize),
        BumpIndex(usize),
        Remove(usize),
        RemoveIndex(usize),
        Add(u32),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (0..60usize).prop_map(Change::Bump),
            (0..60usize).prop_map(Change::BumpIndex),
            (0..60usize).prop_map(Change::Remove),
            (0..60usize).prop_map(Change::RemoveIndex),
            (0..1000u32).prop_map(Change::Add),
        ]
    }

    fn apply(map: &mut TrackedMap<u32>, change: &Change) {
        match change {
            Change::Bump(n) => {
                if let Some(value) = map.get_mut(&format!("u{n}")) {
                    *value += 1;
                }
            }
            Change::BumpIndex(i) => {
                if let Some((_, value)) = map.get_index_mut(*i) {
                    *value += 100;
                }
            }
            Change::Remove(n) => {
                map.swap_remove_entry(&format!("u{n}"));
            }
            Change::RemoveIndex(i) => {
                map.swap_remove_index(*i);
            }
            Change::Add(n) => map.insert(format!("u{n}").into(), *n),
        }
    }

    proptest! {
        /// Walked a few entries at a time between random changes, the saved section,
        /// sorted by index, is the map as it was at the start.
        #[test]
        fn the_walk_saves_the_map_as_it_was(
            initial in 0..130usize,
            changes in proptest::collection::vec((change(), 0..5usize), 0..200),
        ) {
            let mut map = TrackedMap::default();
            map.extend((0..initial).map(|n| (format!("u{n}").into_boxed_str(), n as u32)), initial);
            let before: Vec<(Box<str>, u32)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
            map.begin_walk();
            let mut section = None;
            for (change, budget) in &changes {
                apply(&mut map, change);
                if section.is_none() {
                    section = map.walk_some(*budget).1;
                }
            }
            let section = section.or_else(|| map.walk_some(usize::MAX).1);
            let bytes = section.map(|s| s.into_chunks().unwrap_or_else(|e| panic!("{e}")).concat());
            let mut saved: Vec<(u32, u16, Box<str>, u32)> =
                bincode::deserialize(&bytes.unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
            saved.sort_by_key(|(index, ..)| *index);
            let saved: Vec<(Box<str>, u32)> = saved.into_iter().map(|(_, _, k, v)| (k, v)).collect();
            prop_assert_eq!(saved, before);
            prop_assert!(!map.walking());
        }
    }
}
