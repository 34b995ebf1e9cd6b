//! Every acknowledged event against what the system stored: the exact loss check over
//! the whole stream, not only the sampled users.
//!
//! Contract: the traffic model names each event it generates `p<generator>-<n>`, `n`
//! counting up from 0 ([`generated_id`] reads it off a line, generated or enriched: the
//! id is the object's first key either way). [`Delivery::acknowledged`] records the ids
//! of a batch the system acknowledged; [`Delivery::stored`] the ids of each line read
//! back from what the classifier was given. [`Delivery::lost`] is every acknowledged id
//! never read back, in order. Ids are bits in one bitset per generator, so an hour of
//! load (14.4M events) costs about 2 MB per set. Duplicates (the model resends 2 % of
//! lines with their ids) and malformed lines (no generated id) count once and not at
//! all. Lines the system stored without acknowledging them (a collector killed after
//! publishing) are not losses.
//!
//! ```
//! use segstream_harness::whole::{generated_id, Delivery};
//! assert_eq!(generated_id(r#"{"id":"p0-41","user":"u1"}"#), Some((0, 41)));
//! let mut delivery = Delivery::default();
//! delivery.acknowledged([r#"{"id":"p0-1"}"#, r#"{"id":"p0-2"}"#]);
//! delivery.stored(r#"{"id":"p0-2","received_at":1}"#);
//! assert_eq!(delivery.lost(10), (1, vec!["p0-1".to_string()]));
//! ```

use std::collections::BTreeMap;

/// Ids as bits, one set per generator.
#[derive(Clone, Debug, Default)]
struct IdSet {
    by_generator: BTreeMap<u64, Vec<u64>>,
}

impl IdSet {
    fn insert(&mut self, (generator, n): (u64, u64)) {
        let words = self.by_generator.entry(generator).or_default();
        let word = (n / 64) as usize;
        if words.len() <= word {
            words.resize(word + 1, 0);
        }
        words[word] |= 1 << (n % 64);
    }

    fn contains(&self, (generator, n): (u64, u64)) -> bool {
        self.by_generator
            .get(&generator)
            .and_then(|words| words.get((n / 64) as usize))
            .is_some_and(|word| word & (1 << (n % 64)) != 0)
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.by_generator.iter().flat_map(|(generator, words)| {
            words.iter().enumerate().flat_map(move |(index, word)| {
                (0..64)
                    .filter(move |bit| word & (1 << bit) != 0)
                    .map(move |bit| (*generator, index as u64 * 64 + bit))
            })
        })
    }
}

/// The generated id `p<generator>-<n>` of a line, if it has one.
pub fn generated_id(line: &str) -> Option<(u64, u64)> {
    const KEY: &str = "\"id\":\"p";
    let rest = &line[line.find(KEY)? + KEY.len()..];
    let (generator, rest) = rest.split_once('-')?;
    let (n, _) = rest.split_once('"')?;
    Some((generator.parse().ok()?, n.parse().ok()?))
}

/// What was acknowledged and what was stored (see the module contract).
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    acknowledged: IdSet,
    stored: IdSet,
}

impl Delivery {
    /// Records the lines of an acknowledged batch.
    pub fn acknowledged<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) {
        for id in lines.into_iter().filter_map(generated_id) {
            self.acknowledged.insert(id);
        }
    }

    /// Records a line read back from what the classifier was given.
    pub fn stored(&mut self, line: &str) {
        if let Some(id) = generated_id(line) {
            self.stored.insert(id);
        }
    }

    /// How many events were acknowledged.
    pub fn acknowledged_count(&self) -> usize {
        self.acknowledged.iter().count()
    }

    /// How many acknowledged events were never stored, and the first `shown` of them.
    pub fn lost(&self, shown: usize) -> (usize, Vec<String>) {
        let mut lost = self.acknowledged.iter().filter(|id| !self.stored.contains(*id));
        let named: Vec<String> = lost.by_ref().take(shown).map(|(g, n)| format!("p{g}-{n}")).collect();
        (named.len() + lost.count(), named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_off_generated_and_enriched_lines_and_nothing_else() {
        assert_eq!(
            generated_id(r#"{"id":"p3-1234567","properties":{"ad_id":"p9-9"}}"#),
            Some((3, 1_234_567))
        );
        assert_eq!(generated_id(r#"{"id":"x","user":"u1"}"#), None, "a malformed line's id");
        assert_eq!(generated_id(r#"{"user": "u1", "type": "ad_shown", "time": 0}"#), None);
        assert_eq!(generated_id(r#"{"id":"p1-"}"#), None);
    }

    #[test]
    fn every_acknowledged_id_not_stored_is_lost_once_and_in_order() {
        let mut delivery = Delivery::default();
        let lines: Vec<String> = (0..200).map(|n| format!(r#"{{"id":"p{}-{n}"}}"#, n % 2)).collect();
        delivery.acknowledged(lines.iter().map(String::as_str));
        delivery.acknowledged([lines[5].as_str()]);
        for (n, line) in lines.iter().enumerate() {
            if n != 7 && n != 130 {
                delivery.stored(line);
            }
        }
        delivery.stored(r#"{"id":"p5-99999"}"#);
        assert_eq!(delivery.acknowledged_count(), 200, "a resent id counts once");
        assert_eq!(delivery.lost(10), (2, vec!["p0-130".to_string(), "p1-7".to_string()]));
        assert_eq!(delivery.lost(1).0, 2, "the count is whole even when fewer are named");
    }
}
