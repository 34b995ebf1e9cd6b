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
//! Changes are also tracked between walks, once a first walk has begun: each walk
//! starts a record of the dense indices whose entry changes (a value changed, an entry
//! added or moved there). [`TrackedMap::begin_walk`]`(`[`WalkOf::Changed`]`)` saves only
//! the entries at the indices changed since the previous walk began, with the map's
//! length — the *delta* that, laid over the previous walk's entries by index and cut
//! to that length, gives the map as it is now (`EngineSnapshot::apply`). Entries past
//! the length are gone; every index below it either holds what it held then or was
//! changed. One bit per entry, set on each change.
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
    /// The `(index at the start, id)` of every entry the last walk saved, when it was
    /// asked to name them ([`TrackedMap::take_saved_names`]).
    saved_names: Option<Vec<(u32, Box<str>)>>,
    /// Bit `i`: the entry at dense index `i` changed since the last walk began (`None`
    /// before the first walk: nothing to be relative to).
    changed: Option<Vec<u64>>,
}

/// Which entries a walk saves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkOf {
    /// Every entry.
    All,
    /// The entries changed since the previous walk began.
    Changed,
}

/// A walk in progress.
struct Walk {
    /// Bit `i`: the entry at dense index `i` is not saved yet (and is where it was at
    /// the start).
    unsaved: Vec<u64>,
    /// Entries below this index now are saved or were added since.
    cursor: usize,
    saved: Section,
    /// The entries saved, by index and id, if asked for.
    names: Option<Vec<(u32, Box<str>)>>,
}

/// Whether bit `index` is set.
fn bit(bits: &[u64], index: usize) -> bool {
    bits.get(index / 64).is_some_and(|word| word & (1 << (index % 64)) != 0)
}

/// Bits `0..len` kept, the rest cleared (the vector cut to `len` bits).
fn cut_to(bits: &mut Vec<u64>, len: usize) {
    bits.resize(len.div_ceil(64), 0);
    if let Some(last) = bits.last_mut().filter(|_| !len.is_multiple_of(64)) {
        *last &= (1u64 << (len % 64)) - 1;
    }
}

impl Walk {
    fn is_unsaved(&self, index: usize) -> bool {
        bit(&self.unsaved, index)
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
            if let Some(names) = self.names.as_mut() {
                names.push((index as u32, name.into()));
            }
        }
        self.set_unsaved(index, false);
    }
}

impl<V> Default for TrackedMap<V> {
    fn default() -> Self {
        TrackedMap {
            map: IndexMap::default(),
            walk: None,
            saved_names: None,
            changed: None,
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
    /// Saves the entry at `index` if the walk has not yet, and records that it changes.
    fn preserve(&mut self, index: usize) {
        if let Some(walk) = self.walk.as_mut().filter(|w| w.is_unsaved(index)) {
            walk.save(index, self.map.get_index(index).map(|(name, value)| (&**name, value)));
        }
        if let Some(changed) = self.changed.as_mut() {
            if changed.len() <= index / 64 {
                changed.resize(index / 64 + 1, 0);
            }
            changed[index / 64] |= 1 << (index % 64);
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
        // A new entry takes the next index (nothing there to save, but a change).
        let index = self.map.get_index_of(&name).unwrap_or(self.map.len());
        self.preserve(index);
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

    /// Starts saving the entries `of` as they are now (see the module contract), and a
    /// new record of changes; a walk in progress is dropped. `Changed` before any walk
    /// has begun saves every entry. `name_them`: also list the entries saved, for
    /// [`TrackedMap::take_saved_names`].
    pub(crate) fn begin_walk(&mut self, of: WalkOf, name_them: bool) {
        let len = self.map.len();
        let changed = self.changed.replace(Vec::new());
        let mut unsaved = match (of, changed) {
            (WalkOf::Changed, Some(changed)) => changed,
            _ => vec![u64::MAX; len.div_ceil(64)],
        };
        cut_to(&mut unsaved, len);
        self.saved_names = None;
        self.walk = Some(Walk {
            unsaved,
            cursor: 0,
            saved: Section::default(),
            names: name_them.then(Vec::new),
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
        let done = self.walk.take().map(|walk| {
            self.saved_names = walk.names;
            walk.saved
        });
        (budget, done)
    }

    /// The `(index at the start, id)` of every entry the finished walk saved, if it was
    /// asked to name them; empty otherwise, and the second time.
    pub(crate) fn take_saved_names(&mut self) -> Vec<(u32, Box<str>)> {
        self.saved_names.take().unwrap_or_default()
    }

    /// Whether a walk is in progress.
    #[cfg(test)]
    pub(crate) fn walking(&self) -> bool {
        self.walk.is_some()
    }
}

/// Lays a delta's entries (sorted by index, see [`WalkOf::Changed`]) over the entries
/// of the walk before (dense: entry `i` at position `i`), by index, and cuts the result
/// to `len`; an error, the base left cut, if the two do not fit together.
pub(crate) fn overlay<T>(base: &mut Vec<T>, delta: Vec<T>, len: usize, index: impl Fn(&T) -> u32) -> Result<(), String> {
    base.truncate(len);
    for entry in delta {
        let (at, held) = (index(&entry) as usize, base.len());
        match base.get_mut(at) {
            Some(slot) => *slot = entry,
            None if at == held => base.push(entry),
            None => return Err(format!("a delta's entry at index {at} is past the {held} entries before it")),
        }
    }
    match base.len() == len {
        true => Ok(()),
        false => Err(format!("a delta of {len} entries leaves {}", base.len())),
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

    type Saved = Vec<(u32, u16, Box<str>, u32)>;

    fn entries(map: &TrackedMap<u32>) -> Vec<(Box<str>, u32)> {
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Begins a walk `of` entries and makes `changes`, walking `budget` entries after
    /// each; the entries saved, sorted by index.
    fn walk_through(map: &mut TrackedMap<u32>, of: WalkOf, changes: &[(Change, usize)]) -> Saved {
        map.begin_walk(of, false);
        let mut section = None;
        for (change, budget) in changes {
            apply(map, change);
            if section.is_none() {
                section = map.walk_some(*budget).1;
            }
        }
        let section = section.or_else(|| map.walk_some(usize::MAX).1);
        let bytes = section.map(|s| s.into_chunks().unwrap_or_else(|e| panic!("{e}")).concat());
        let mut saved: Saved = bincode::deserialize(&bytes.unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        saved.sort_by_key(|(index, ..)| *index);
        saved
    }

    fn without_index(saved: Saved) -> Vec<(Box<str>, u32)> {
        saved.into_iter().map(|(_, _, k, v)| (k, v)).collect()
    }

    proptest! {
        /// Walked a few entries at a time between random changes, the saved section,
        /// sorted by index, is the map as it was at the start; and a delta walked so
        /// after more changes, laid over it, is the map as it was at the delta's start.
        #[test]
        fn the_walk_saves_the_map_as_it_was(
            initial in 0..130usize,
            changes in proptest::collection::vec((change(), 0..5usize), 0..200),
            between in proptest::collection::vec((change(), 0..1usize), 0..60),
            after in proptest::collection::vec((change(), 0..5usize), 0..100),
        ) {
            let mut map = TrackedMap::default();
            map.extend((0..initial).map(|n| (format!("u{n}").into_boxed_str(), n as u32)), initial);
            let before = entries(&map);
            let mut saved = walk_through(&mut map, WalkOf::All, &changes);
            prop_assert_eq!(without_index(saved.clone()), before);
            prop_assert!(!map.walking());
            for (change, _) in &between {
                apply(&mut map, change);
            }
            let (at_delta, len) = (entries(&map), map.len());
            let delta = walk_through(&mut map, WalkOf::Changed, &after);
            prop_assert!(delta.len() <= len);
            overlay(&mut saved, delta, len, |(index, ..)| *index).map_err(TestCaseError::fail)?;
            prop_assert_eq!(without_index(saved), at_delta);
        }
    }

    #[test]
    fn a_delta_holds_only_the_entries_changed() {
        let mut map = TrackedMap::default();
        map.extend((0..1_000u32).map(|n| (format!("u{n}").into_boxed_str(), n)), 1_000);
        walk_through(&mut map, WalkOf::All, &[]);
        let changes = [(Change::Bump(5), 0), (Change::Remove(7), 0), (Change::Add(2_000), 0)];
        let delta = walk_through(&mut map, WalkOf::Changed, &[]);
        assert!(delta.is_empty(), "nothing changed");
        for (change, _) in &changes {
            apply(&mut map, change);
        }
        let indices: Vec<u32> = walk_through(&mut map, WalkOf::Changed, &[]).iter().map(|e| e.0).collect();
        assert_eq!(indices, vec![5, 7, 999], "u5 bumped, u999 moved into u7's place, u2000 added last");
    }
}
