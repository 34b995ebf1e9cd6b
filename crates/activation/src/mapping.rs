//! Which segments each partner's audiences hold whole, remembered across restarts, so a
//! segment added to an existing partner's mapping is backfilled as a new partner is.
//!
//! Contract: [`MappingMemory::recall`] is the set last remembered for a partner, `None`
//! if none ever was; [`MappingMemory::remember`] replaces it. A reader remembers a set
//! only once the backfill of every segment in it is delivered (so a crash during a
//! backfill starts it over), and remembers a shrunk mapping at once (so a segment removed
//! and added again is backfilled again). [`segments_to_backfill`] says which configured
//! segments a partner lacks. The distributed deployment keeps the sets in Redis
//! (`segstream_redis::partner_state`), through [`MappingFns`].

use std::collections::BTreeSet;

/// Where the sets of held segments are kept (see the module contract).
pub trait MappingMemory: Send + Sync {
    /// The segments `partner`'s audiences were last known to hold whole.
    fn recall(&self, partner: &str) -> Result<Option<BTreeSet<String>>, String>;
    /// Records that `partner`'s audiences hold exactly `segments` whole.
    fn remember(&self, partner: &str, segments: &BTreeSet<String>) -> Result<(), String>;
}

/// A memory given by two functions (a reader and a writer).
pub struct MappingFns<R, W> {
    /// Reads a partner's set.
    pub recall: R,
    /// Replaces a partner's set.
    pub remember: W,
}

impl<R, W> MappingMemory for MappingFns<R, W>
where
    R: Fn(&str) -> Result<Option<BTreeSet<String>>, String> + Send + Sync,
    W: Fn(&str, &BTreeSet<String>) -> Result<(), String> + Send + Sync,
{
    fn recall(&self, partner: &str) -> Result<Option<BTreeSet<String>>, String> {
        (self.recall)(partner)
    }

    fn remember(&self, partner: &str, segments: &BTreeSet<String>) -> Result<(), String> {
        (self.remember)(partner, segments)
    }
}

/// The configured segments an existing partner does not hold yet. A partner with
/// committed offsets but no recorded set predates this record: its audiences are taken
/// to hold every configured segment, as they did when it was first backfilled.
pub fn segments_to_backfill(recalled: Option<&BTreeSet<String>>, configured: &BTreeSet<String>) -> BTreeSet<String> {
    match recalled {
        Some(held) => configured.difference(held).cloned().collect(),
        None => BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_segments_the_partner_does_not_hold_are_backfilled() {
        let configured = set(&["payers", "whales"]);
        assert_eq!(segments_to_backfill(Some(&set(&["whales"])), &configured), set(&["payers"]));
        assert_eq!(
            segments_to_backfill(Some(&set(&["payers", "whales", "gone"])), &configured),
            set(&[])
        );
        assert_eq!(segments_to_backfill(Some(&set(&[])), &configured), configured);
        assert_eq!(
            segments_to_backfill(None, &configured),
            set(&[]),
            "a partner that predates the record"
        );
    }
}
