//! Serde for the engine's bit sets ([`SmallBitVec`], which has no serde of its own).
//!
//! Contract: a bit set is written as its length and its bits packed into 64-bit words,
//! lowest index in the lowest bit, and read back equal: `with = "bits"` on a field.
//!
//! ```
//! use smallbitvec::SmallBitVec;
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Flags(#[serde(with = "segstream_dataflows::classifier::bits")] SmallBitVec);
//! let mut bits = SmallBitVec::from_elem(70, false);
//! bits.set(69, true);
//! let text = serde_json::to_string(&Flags(bits.clone())).unwrap();
//! assert_eq!(text, "[70,[0,32]]");
//! let Flags(back) = serde_json::from_str(&text).unwrap();
//! assert_eq!(back, bits);
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallbitvec::SmallBitVec;

/// Writes `bits` as `(length, words)`.
pub fn serialize<S: Serializer>(bits: &SmallBitVec, serializer: S) -> Result<S::Ok, S::Error> {
    let mut words = vec![0u64; bits.len().div_ceil(64)];
    for (i, bit) in bits.iter().enumerate() {
        if bit {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    (bits.len(), words).serialize(serializer)
}

/// Reads what [`serialize`] wrote; words too few for the length are an error.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SmallBitVec, D::Error> {
    let (len, words) = <(usize, Vec<u64>)>::deserialize(deserializer)?;
    if words.len() != len.div_ceil(64) {
        return Err(serde::de::Error::custom(format!(
            "a bit set of {len} bits in {} words",
            words.len()
        )));
    }
    let mut bits = SmallBitVec::from_elem(len, false);
    for i in 0..len {
        if words[i / 64] >> (i % 64) & 1 == 1 {
            bits.set(i, true);
        }
    }
    Ok(bits)
}
