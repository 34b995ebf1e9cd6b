//! A sequence encoded entry by entry, in the bytes bincode gives a `Vec` of them.
//!
//! Contract: [`Section::push`] appends one entry's bincode encoding (the options
//! `bincode::serialize` uses: fixed-width little-endian integers); [`Section::into_chunks`]
//! gives the sequence's length prefix and its entries, which, written one after the
//! other, decode as a `Vec` of the entries in push order. An entry that fails to
//! encode is not appended; the first such error is kept and returned by
//! [`Section::into_chunks`], so a copy-on-write save deep inside a tick need not
//! handle it there.

use serde::Serialize;

/// Entries encoded so far (see the module contract).
#[derive(Debug, Default)]
pub(crate) struct Section {
    bytes: Vec<u8>,
    count: u64,
    failed: Option<String>,
}

impl Section {
    /// Appends `entry`.
    pub(crate) fn push<T: Serialize>(&mut self, entry: &T) {
        let before = self.bytes.len();
        match bincode::serialize_into(&mut self.bytes, entry) {
            Ok(()) => self.count += 1,
            Err(e) => {
                self.bytes.truncate(before);
                self.failed.get_or_insert_with(|| format!("encoding an engine snapshot: {e}"));
            }
        }
    }

    /// Entries appended.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    /// The length prefix and the entries (see the module contract).
    pub(crate) fn into_chunks(self) -> Result<[Vec<u8>; 2], String> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok([self.count.to_le_bytes().to_vec(), self.bytes]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
