//! Which partition a keyed record belongs to.
//!
//! Contract: [`partition_of`] maps a key to one of `partitions` partitions by FNV-1a, a
//! hash that is the same on every machine, build and run (unlike `DefaultHasher`, which
//! Rust may change), so a user's partition — and with it the order of its events and
//! the watermark each is judged against — depends on the input alone. The embedded
//! event log and the file runner partition events with it.
//!
//! ```
//! use segstream_model::partitioning::partition_of;
//! assert_eq!(partition_of("user-1", 8), partition_of("user-1", 8));
//! assert!(partition_of("user-1", 8) < 8);
//! assert_eq!(partition_of("anything", 0), 0, "no partitions: everything in 0");
//! ```

/// FNV-1a of the key's bytes.
pub fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The partition of `key` among `partitions` (0 when there are none).
pub fn partition_of(key: &str, partitions: usize) -> usize {
    if partitions == 0 {
        return 0;
    }
    (fnv1a(key) % partitions as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_published_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn keys_spread_over_all_partitions() {
        let mut seen = [0usize; 4];
        for n in 0..1_000 {
            seen[partition_of(&format!("user-{n}"), 4)] += 1;
        }
        assert!(seen.iter().all(|&count| count > 150), "{seen:?}");
    }
}
