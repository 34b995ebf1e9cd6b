//! Exact deduplication of event ids within the dedup horizon.
//!
//! Contract: [`Dedup::first_sighting`] returns `true` the first time a (user, event id)
//! is seen and
//! `false` for every later sighting while the first is within the horizon of the
//! processing tick. State is bounded by the horizon: entries older than it are dropped
//! as time advances (amortised, a sweep every 1/16 of the horizon). Ids are keyed by a
//! 128-bit hash (two independent SipHash-1-3 digests), so a false "duplicate" needs a
//! 128-bit collision. The hash is kept as two `u64`s, not a `u128`: a `u128` key is
//! 16-byte aligned, which padded each (key, tick) slot from 24 to 32 bytes. The map
//! hashes that key with the engine's `FastHash`, foldhash seeded at random (SipHash over
//! the digests again took `first_sighting` from 0.49 % to 1.66 % of the bench's profile;
//! a fixed seed would let chosen ids fill one bucket). The top 12 bits of the key are
//! the user's key group ([`segstream_model::key_group`]) in place of hash bits (116 bits
//! of hash remain), so the ids can be saved and loaded by key group ([`Dedup::saved`],
//! [`Dedup::load`]) though the user is not kept; the ids are kept in one map per key
//! group, so that a snapshot can be taken a group at a time while ids keep coming
//! (`Dedup::begin_walk`, `Dedup::walk_some`): the first new id of a group the walk
//! has not reached saves the group's ids first (copy-on-write, about a thousand ids at
//! 4M ids), and sweeps wait until the walk is over, so the walk saves exactly the ids
//! remembered at its start.
//!
//! A walk can save only the ids first seen from a tick on (`Dedup::begin_walk(Some(since))`,
//! `since` the previous walk's tick): every id recorded since that walk began, since a
//! sighting sets its tick to the processing tick. With `Dedup::swept_below` (ids
//! first seen before it are forgotten), that *delta* laid over the previous walk's ids
//! gives the ids remembered now (`EngineSnapshot::apply`). Walking a group costs a
//! comparison per id it does not save.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::section::Section;
use segstream_model::key_group::{key_group, KeyGroup, KEY_GROUPS};

/// Seen event ids with the tick at which each was first seen.
#[derive(Debug)]
pub struct Dedup {
    /// Ids by key group.
    seen: Vec<HashMap<[u64; 2], u32, super::FastHash>>,
    /// Ids remembered, over every group.
    len: usize,
    walk: Option<Walk>,
    /// Ticks are stored relative to this base, in units of the tick, to fit in 32 bits.
    base: u64,
    tick_ms: u64,
    horizon_ms: u64,
    next_sweep: u64,
    /// Ids first seen before this tick were forgotten by the last sweep.
    swept_below: u64,
}

/// Bits of a key's first word below its key group.
const GROUP_SHIFT: u32 = 64 - KEY_GROUPS.trailing_zeros();

fn key(user: &str, id: &str) -> [u64; 2] {
    let mut high = DefaultHasher::new();
    (user, id).hash(&mut high);
    let mut low = DefaultHasher::new();
    0x5e65_7374_7265_616du64.hash(&mut low);
    (user, id).hash(&mut low);
    let group = u64::from(key_group(user)) << GROUP_SHIFT;
    [group | (high.finish() >> KEY_GROUPS.trailing_zeros()), low.finish()]
}

/// The key group of a key.
fn group_of(key: &[u64; 2]) -> KeyGroup {
    // The top 12 bits fit a u16 exactly.
    (key[0] >> GROUP_SHIFT) as KeyGroup
}

/// A remembered id as saved: its key and the tick it was first seen at.
pub type SavedId = ([u64; 2], u64);

/// Saves a group's ids first seen at compact tick `since` or after as [`SavedId`]s;
/// compact ticks count `tick_ms` from `base`. The work done, in ids saved (comparing
/// one is an eighth of saving one).
fn save_group(saved: &mut Section, seen: &HashMap<[u64; 2], u32, super::FastHash>, since: u32, (base, tick_ms): (u64, u64)) -> usize {
    let mut count = 0;
    for (key, compact) in seen.iter().filter(|(_, compact)| **compact >= since) {
        saved.push(&(key, base + u64::from(*compact) * tick_ms));
        count += 1;
    }
    count + (seen.len() - count) / 8
}

/// A snapshot in progress.
#[derive(Debug)]
struct Walk {
    /// The compact tick of the oldest ids saved.
    since: u32,
    /// Groups from this one on are not walked yet.
    next: usize,
    /// Groups from `next` on saved by a change.
    copied: Vec<bool>,
    saved: Section,
}

impl Dedup {
    /// An empty set for a tick length and horizon.
    pub fn new(tick_ms: u64, horizon_ms: u64) -> Dedup {
        Dedup {
            seen: (0..KEY_GROUPS).map(|_| HashMap::default()).collect(),
            len: 0,
            walk: None,
            base: 0,
            tick_ms: tick_ms.max(1),
            horizon_ms,
            next_sweep: 0,
            swept_below: 0,
        }
    }

    fn compact_tick(&self, tick: u64) -> u32 {
        u32::try_from(tick.saturating_sub(self.base) / self.tick_ms).unwrap_or(u32::MAX)
    }

    /// Whether this is the first sighting of event `id` of `user` (recording it), at
    /// processing tick `now`.
    pub fn first_sighting(&mut self, user: &str, id: &str, now: u64) -> bool {
        if self.len == 0 {
            self.base = now;
        }
        let tick = self.compact_tick(now);
        let oldest_kept = self.compact_tick(now.saturating_sub(self.horizon_ms));
        let key = key(user, id);
        let group = usize::from(group_of(&key));
        self.preserve(group);
        let Some(seen) = self.seen.get_mut(group) else { return true };
        match seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut slot) if *slot.get() < oldest_kept => {
                slot.insert(tick);
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(tick);
                self.len += 1;
                true
            }
        }
    }

    /// Forgets ids first seen more than the horizon before `now`.
    pub fn advance(&mut self, now: u64) {
        if now < self.next_sweep || self.walk.is_some() {
            return;
        }
        self.next_sweep = now + (self.horizon_ms / 16).max(self.tick_ms);
        let oldest = now.saturating_sub(self.horizon_ms);
        let limit = self.compact_tick(oldest);
        if now.saturating_sub(self.horizon_ms) > self.base {
            self.seen.iter_mut().for_each(|seen| seen.retain(|_, tick| *tick >= limit));
            self.len = self.seen.iter().map(HashMap::len).sum();
            self.swept_below = self.swept_below.max(self.base + u64::from(limit) * self.tick_ms);
        }
    }

    /// Ids first seen before this tick are forgotten (see the module contract).
    pub(crate) fn swept_below(&self) -> u64 {
        self.swept_below
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Saves `group`'s ids if the walk has not reached it and no change has yet.
    fn preserve(&mut self, group: usize) {
        let Some(walk) = self.walk.as_mut().filter(|w| group >= w.next) else {
            return;
        };
        if walk.copied.get(group).is_some_and(|copied| !copied) {
            walk.copied[group] = true;
            if let Some(seen) = self.seen.get(group) {
                save_group(&mut walk.saved, seen, walk.since, (self.base, self.tick_ms));
            }
        }
    }

    /// Starts saving the ids remembered now, or (`since`) those first seen at that tick
    /// or after (see the module contract).
    pub(crate) fn begin_walk(&mut self, since: Option<u64>) {
        // Ids of the compact tick `since` falls in: some may be older, which is no
        // harm (saved again as they are).
        let since = since.map_or(0, |tick| self.compact_tick(tick));
        self.walk = Some(Walk {
            since,
            next: 0,
            copied: vec![false; self.seen.len()],
            saved: Section::default(),
        });
    }

    /// Saves groups of the walk, up to about `budget` ids; the budget left, and the
    /// section (of [`SavedId`]s) once every group is saved (the walk is then over).
    pub(crate) fn walk_some(&mut self, mut budget: usize) -> (usize, Option<Section>) {
        let Some(walk) = self.walk.as_mut() else { return (budget, None) };
        while budget > 0 {
            let group = walk.next;
            let Some(seen) = self.seen.get(group) else {
                return (budget, self.walk.take().map(|w| w.saved));
            };
            walk.next += 1;
            if !walk.copied[group] {
                let work = save_group(&mut walk.saved, seen, walk.since, (self.base, self.tick_ms));
                budget = budget.saturating_sub(work.max(1));
            }
        }
        (budget, None)
    }

    /// The remembered ids of the key groups `keep` accepts, with the tick each was
    /// first seen at.
    pub fn saved(&self, keep: impl Fn(KeyGroup) -> bool) -> Vec<SavedId> {
        self.seen
            .iter()
            .flatten()
            .filter(|(key, _)| keep(group_of(key)))
            .map(|(key, &compact)| (*key, self.base + u64::from(compact) * self.tick_ms))
            .collect()
    }

    /// Remembers saved ids of the key groups `keep` accepts (see [`Dedup::saved`]).
    pub fn load(&mut self, saved: impl IntoIterator<Item = SavedId>, keep: impl Fn(KeyGroup) -> bool) {
        let saved: Vec<SavedId> = saved.into_iter().filter(|(key, _)| keep(group_of(key))).collect();
        let Some(earliest) = saved.iter().map(|(_, tick)| *tick).min() else {
            return;
        };
        if self.len == 0 {
            self.base = earliest;
        }
        // Each group's map sized once: growing 4,096 maps id by id rehashed every one
        // of them several times over.
        let mut per_group = vec![0usize; self.seen.len()];
        saved.iter().for_each(|(key, _)| per_group[usize::from(group_of(key))] += 1);
        for (seen, count) in self.seen.iter_mut().zip(per_group) {
            seen.reserve(count);
        }
        for (key, tick) in saved {
            let compact = self.compact_tick(tick);
            let group = usize::from(group_of(&key));
            if let Some(seen) = self.seen.get_mut(group) {
                self.len += usize::from(seen.insert(key, compact).is_none());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_horizon_and_forgets_after() {
        let mut dedup = Dedup::new(100, 10_000);
        assert!(dedup.first_sighting("u", "a", 1_000));
        assert!(!dedup.first_sighting("u", "a", 5_000));
        assert!(dedup.first_sighting("u", "b", 5_000));
        dedup.advance(10_900);
        assert!(!dedup.first_sighting("u", "a", 10_900), "still inside the horizon");
        assert!(!dedup.first_sighting("u", "b", 11_100));
        assert!(dedup.first_sighting("u", "a", 11_100), "a was first seen more than the horizon ago");
        dedup.advance(20_000);
        assert_eq!(dedup.len(), 1, "the sweep dropped b, first seen at 5000");
    }

    #[test]
    fn saved_ids_load_by_key_group_with_their_first_ticks() {
        let mut dedup = Dedup::new(100, 10_000);
        let users: Vec<String> = (0..50).map(|n| format!("user-{n}")).collect();
        for (n, user) in users.iter().enumerate() {
            assert!(dedup.first_sighting(user, "a", 1_000 + n as u64 * 100));
        }
        let even = |group: KeyGroup| group.is_multiple_of(2);
        let mut loaded = Dedup::new(100, 10_000);
        loaded.load(dedup.saved(|_| true), even);
        assert!(loaded.len() > 10 && loaded.len() < 40, "about half the groups: {}", loaded.len());
        for (n, user) in users.iter().enumerate() {
            let seen_at = 1_000 + n as u64 * 100;
            let kept = even(key_group(user));
            assert_eq!(!loaded.first_sighting(user, "a", seen_at + 9_900), kept, "{user}");
        }
        // The first tick came along: an id is forgotten exactly a horizon after it.
        let mut one = Dedup::new(100, 10_000);
        one.load(dedup.saved(|group| group == key_group("user-7")), |_| true);
        assert!(!one.first_sighting("user-7", "a", 11_600));
        assert!(one.first_sighting("user-7", "a", 11_800), "first seen at 1,700");
    }

    /// A walk saves the ids remembered at its start: ids seen since are not in it, and
    /// a sweep in the meantime (which would drop the old ones) waits for it.
    #[test]
    fn a_walk_saves_the_ids_at_its_start() {
        let mut dedup = Dedup::new(100, 10_000);
        let users: Vec<String> = (0..40).map(|n| format!("user-{n}")).collect();
        for user in &users {
            assert!(dedup.first_sighting(user, "a", 1_000));
        }
        dedup.begin_walk(None);
        assert_eq!(dedup.walk_some(5).1.map(|_| ()), None, "a few groups saved");
        dedup.advance(30_000);
        for user in &users {
            assert!(dedup.first_sighting(user, "b", 30_000));
        }
        let section = dedup.walk_some(usize::MAX).1.unwrap_or_else(|| panic!("the walk is over"));
        let bytes = section.into_chunks().unwrap_or_else(|e| panic!("{e}")).concat();
        let mut saved: Vec<SavedId> = bincode::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut expected: Vec<SavedId> = users.iter().map(|user| (key(user, "a"), 1_000)).collect();
        saved.sort_unstable();
        expected.sort_unstable();
        assert_eq!(saved, expected);
        dedup.advance(30_000);
        assert_eq!(dedup.len(), users.len(), "after the walk, the sweep drops the ids seen at 1,000");
    }
}
