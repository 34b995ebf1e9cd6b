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
//! [`Dedup::load`]) though the user is not kept.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use segstream_model::key_group::{key_group, KeyGroup, KEY_GROUPS};

/// Seen event ids with the tick at which each was first seen.
#[derive(Debug, Default)]
pub struct Dedup {
    seen: HashMap<[u64; 2], u32, super::FastHash>,
    /// Ticks are stored relative to this base, in units of the tick, to fit in 32 bits.
    base: u64,
    tick_ms: u64,
    horizon_ms: u64,
    next_sweep: u64,
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

impl Dedup {
    /// An empty set for a tick length and horizon.
    pub fn new(tick_ms: u64, horizon_ms: u64) -> Dedup {
        Dedup {
            seen: HashMap::default(),
            base: 0,
            tick_ms: tick_ms.max(1),
            horizon_ms,
            next_sweep: 0,
        }
    }

    fn compact_tick(&self, tick: u64) -> u32 {
        u32::try_from(tick.saturating_sub(self.base) / self.tick_ms).unwrap_or(u32::MAX)
    }

    /// Whether this is the first sighting of event `id` of `user` (recording it), at
    /// processing tick `now`.
    pub fn first_sighting(&mut self, user: &str, id: &str, now: u64) -> bool {
        if self.seen.is_empty() {
            self.base = now;
        }
        let tick = self.compact_tick(now);
        let oldest_kept = self.compact_tick(now.saturating_sub(self.horizon_ms));
        match self.seen.entry(key(user, id)) {
            std::collections::hash_map::Entry::Occupied(mut slot) if *slot.get() < oldest_kept => {
                slot.insert(tick);
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(tick);
                true
            }
        }
    }

    /// Forgets ids first seen more than the horizon before `now`.
    pub fn advance(&mut self, now: u64) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + (self.horizon_ms / 16).max(self.tick_ms);
        let oldest = now.saturating_sub(self.horizon_ms);
        let limit = self.compact_tick(oldest);
        if now.saturating_sub(self.horizon_ms) > self.base {
            self.seen.retain(|_, tick| *tick >= limit);
        }
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The remembered ids of the key groups `keep` accepts, with the tick each was
    /// first seen at.
    pub fn saved(&self, keep: impl Fn(KeyGroup) -> bool) -> Vec<SavedId> {
        let ticks = |compact: u32| self.base + u64::from(compact) * self.tick_ms;
        self.seen
            .iter()
            .filter(|(key, _)| keep(group_of(key)))
            .map(|(key, &compact)| (*key, ticks(compact)))
            .collect()
    }

    /// Remembers saved ids of the key groups `keep` accepts (see [`Dedup::saved`]).
    pub fn load(&mut self, saved: impl IntoIterator<Item = SavedId>, keep: impl Fn(KeyGroup) -> bool) {
        let saved: Vec<SavedId> = saved.into_iter().filter(|(key, _)| keep(group_of(key))).collect();
        let Some(earliest) = saved.iter().map(|(_, tick)| *tick).min() else {
            return;
        };
        if self.seen.is_empty() {
            self.base = earliest;
        }
        self.seen.reserve(saved.len());
        for (key, tick) in saved {
            let compact = self.compact_tick(tick);
            self.seen.insert(key, compact);
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
}
