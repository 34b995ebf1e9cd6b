//! A sequence encoded entry by entry, in the bytes bincode gives a `Vec` of them.
//!
//! Contract: [`Section::push`] appends one entry's bincode encoding (the options
//! `bincode::serialize` uses: fixed-width little-endian integers); [`Section::into_chunks`]
//! gives the sequence's length prefix and its entries, which, written one after the
//! other, decode as a `Vec` of the entries in push order. An entry that fails to
//! encode is not appended; the first such error is kept and returned by
//! [`Section::into_chunks`], so a copy-on-write save deep inside a tick need not
//! handle it there. The bytes are kept in chunks of about [`CHUNK_BYTES`]: one growing
//! buffer of a gigabyte was copied whole each time it doubled, a 48 ms pause in the
//! middle of a snapshot of 1M users (`docs/benchmarks.md`).

use serde::Serialize;

/// The size a chunk is closed at (an entry is never split, so a chunk may exceed it
/// by one entry).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Entries encoded so far (see the module contract).
#[derive(Debug, Default)]
pub(crate) struct Section {
    /// Closed chunks, then the one being filled.
    chunks: Vec<Vec<u8>>,
    count: u64,
    failed: Option<String>,
}

impl Section {
    /// Appends `entry`.
    pub(crate) fn push<T: Serialize>(&mut self, entry: &T) {
        if self.chunks.last().is_none_or(|open| open.len() >= CHUNK_BYTES) {
            self.chunks.push(Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4));
        }
        let Some(open) = self.chunks.last_mut() else { return };
        let before = open.len();
        match bincode::serialize_into(&mut *open, entry) {
            Ok(()) => self.count += 1,
            Err(e) => {
                open.truncate(before);
                self.failed.get_or_insert_with(|| format!("encoding an engine snapshot: {e}"));
            }
        }
    }

    /// Entries appended.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    /// The length prefix, then the entries in chunks (see the module contract).
    pub(crate) fn into_chunks(self) -> Result<Vec<Vec<u8>>, String> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(std::iter::once(self.count.to_le_bytes().to_vec()).chain(self.chunks).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_past_a_chunk_go_on_in_the_next_and_still_decode_as_a_vec() {
        let mut section = Section::default();
        let entry = vec![7u8; CHUNK_BYTES / 3];
        for _ in 0..5 {
            section.push(&entry);
        }
        let chunks = section.into_chunks().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chunks.len(), 1 + 2, "the prefix, then 4 entries (filling past 1 MiB) and 1");
        let decoded: Vec<Vec<u8>> = bincode::deserialize(&chunks.concat()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded, vec![entry; 5]);
    }

    #[test]
    fn pushed_entries_decode_as_a_vec() {
        let mut section = Section::default();
        for entry in [(1u32, "ann"), (7, "bob")] {
            section.push(&entry);
        }
        let bytes = section.into_chunks().unwrap_or_else(|e| panic!("{e}")).concat();
        let decoded: Vec<(u32, String)> = bincode::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded, vec![(1, "ann".to_string()), (7, "bob".to_string())]);
    }
}
