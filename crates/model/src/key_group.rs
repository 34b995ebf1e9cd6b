//! Key groups: the fixed units by which the classifier's users are placed and its state
//! is saved.
//!
//! Contract: [`key_group`] maps a user id to one of [`KEY_GROUPS`] groups by the top
//! twelve bits of FNV-1a ([`crate::partitioning::fnv1a`]) passed through MurmurHash3's
//! 64-bit finaliser: both are fixed, published functions, the same on every machine,
//! build and run. The number of groups is a constant, so it never
//! changes for a deployment: the classifier's exchange sends every input of a group to
//! one worker, the engine's state is saved by group, and a saved group can be loaded by
//! whichever worker owns it under any number of workers and processes. The top bits are
//! used because the embedded log partitions by the low bits (`partition % n`), so groups
//! and partitions do not line up; the finaliser because FNV-1a alone leaves its top
//! bits poorly mixed for short ids (for `user-0` … `user-409599`, some of the 4,096
//! groups got no user and one got 420, against 100 each on average).
//!
//! *Why 4,096:* it allows up to 4,096 workers, and at 10M users a group holds about
//! 2,440 users, so the largest of the groups is about 7 % above the mean (3.5 standard
//! deviations of a binomial spread): workers' shares stay even under any count. Fewer,
//! larger groups would make that spread coarser; many more would make a checkpoint's
//! index of groups larger for nothing.
//!
//! ```
//! use segstream_model::key_group::{key_group, KEY_GROUPS};
//! assert_eq!(key_group("user-1"), key_group("user-1"));
//! assert!(key_group("user-1") < KEY_GROUPS);
//! ```

use crate::partitioning::fnv1a;

/// A key group: `0..KEY_GROUPS`.
pub type KeyGroup = u16;

/// How many key groups there are.
pub const KEY_GROUPS: KeyGroup = 4_096;

/// The key group of a user id.
pub fn key_group(user: &str) -> KeyGroup {
    // The top 12 bits of a u64 fit a u16 exactly.
    (finalised(fnv1a(user)) >> (64 - KEY_GROUPS.trailing_zeros())) as KeyGroup
}

/// MurmurHash3's `fmix64`: every bit of the input reaches every bit of the output.
fn finalised(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_the_top_bits_of_the_finalised_fnv1a() {
        // fmix64 of 0 is 0, and of FNV-1a("") = 0xcbf29ce484222325 is pinned here: a
        // change of either function would move every saved group.
        assert_eq!(finalised(0), 0);
        assert_eq!(key_group(""), (finalised(0xcbf2_9ce4_8422_2325) >> 52) as KeyGroup);
        // Computed apart from this code (Python, from the published definitions).
        assert_eq!((key_group("a"), key_group("user-1")), (2090, 1050));
        assert_eq!(KEY_GROUPS, 1 << 12);
    }

    #[test]
    fn users_spread_evenly_over_the_groups() {
        let mut counts = vec![0u32; usize::from(KEY_GROUPS)];
        let users = 409_600;
        for n in 0..users {
            counts[usize::from(key_group(&format!("user-{n}")))] += 1;
        }
        // 100 users a group on average; a binomial spread keeps every group well inside 50..150.
        let (least, most) = (counts.iter().min(), counts.iter().max());
        assert!(
            least.is_some_and(|&c| c > 50) && most.is_some_and(|&c| c < 150),
            "{least:?} {most:?}"
        );
    }
}
