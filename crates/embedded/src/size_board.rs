//! Current segment sizes from the classifier's `sizes` collection.
//!
//! Contract: fed every `((segment, count), tick, diff)` update of the `sizes`
//! collection, [`SizeBoard::top`] gives the largest segments as of everything fed.

use std::collections::HashMap;

/// The multiset of `(segment, count)` records, consolidated.
#[derive(Debug, Default)]
pub struct SizeBoard {
    records: HashMap<(String, isize), isize>,
}

impl SizeBoard {
    /// Applies one update.
    pub fn apply(&mut self, segment: &str, count: isize, diff: isize) {
        let key = (segment.to_string(), count);
        let entry = self.records.entry(key.clone()).or_insert(0);
        *entry += diff;
        if *entry == 0 {
            self.records.remove(&key);
        }
    }

    /// The `n` largest segments, largest first.
    pub fn top(&self, n: usize) -> Vec<(String, isize)> {
        let mut sizes: Vec<(String, isize)> = self
            .records
            .iter()
            .filter(|(_, m)| **m > 0)
            .map(|((s, c), _)| (s.clone(), *c))
            .collect();
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sizes.truncate(n);
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_retractions() {
        let mut board = SizeBoard::default();
        board.apply("a", 1, 1);
        board.apply("b", 3, 1);
        board.apply("a", 1, -1);
        board.apply("a", 5, 1);
        assert_eq!(board.top(5), vec![("a".to_string(), 5), ("b".to_string(), 3)]);
        board.apply("b", 3, -1);
        assert_eq!(board.top(5), vec![("a".to_string(), 5)]);
    }
}
