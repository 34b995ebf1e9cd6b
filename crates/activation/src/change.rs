//! What the activator delivers: membership changes with their place in the change log,
//! their stable delivery id, and their coalescing within a flush window.
//!
//! Contract: a [`Change`] is one record of `segment-changes` (or the embedded change
//! log) with its [`Position`]. [`delivery_id`] is a pure function of the partner and the
//! change (segment, user, tick, enter/exit): every retry and every replay of the same
//! change carries the same id, so a partner can drop duplicates. [`coalesce`] keeps, of
//! the changes of one (user, segment) in a batch, only the last — the net effect — in the
//! order of their last occurrence, and hands back the rest as superseded (they count as
//! done); a final exit is always kept, so removals are never dropped.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::identity::hex;

/// Where a change sits in its log: partition and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The partition.
    pub partition: i32,
    /// The offset in it.
    pub offset: i64,
}

/// One membership change on its way to a partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The user.
    pub user: String,
    /// The segment.
    pub segment: String,
    /// The tick (event time, ms) at which it holds.
    pub tick: u64,
    /// Entered (`true`) or exited.
    pub entered: bool,
    /// Where it came from (for commits).
    pub position: Position,
    /// When the activator read it (wall clock, ms), for delivery latency.
    pub read_at_ms: u64,
}

impl Change {
    /// A change decoded from the log (`(user, segment, tick, entered)`, as
    /// `segstream_model::change::decode_change` gives it) at `position`, read now.
    pub fn read_now((user, segment, tick, entered): (String, String, u64, bool), position: Position) -> Change {
        Change {
            user,
            segment,
            tick,
            entered,
            position,
            read_at_ms: segstream_time::wall_clock_ms(),
        }
    }
}

/// The stable delivery id of `change` for `partner` (32 hex digits): the first half of
/// SHA-256 of `partner \n segment \n user \n tick \n enter|exit`.
pub fn delivery_id(partner: &str, change: &Change) -> String {
    let mut hasher = Sha256::new();
    for part in [partner.as_bytes(), change.segment.as_bytes(), change.user.as_bytes()] {
        hasher.update(part);
        hasher.update(b"\n");
    }
    hasher.update(change.tick.to_string().as_bytes());
    hasher.update(if change.entered {
        b"\nenter".as_slice()
    } else {
        b"\nexit".as_slice()
    });
    hex(&hasher.finalize()[..16])
}

/// The net effect of a batch: `(kept, superseded)` (see the module contract).
pub fn coalesce(changes: Vec<Change>) -> (Vec<Change>, Vec<Change>) {
    let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(changes.len());
    for (index, change) in changes.iter().enumerate() {
        last.insert((change.user.as_str(), change.segment.as_str()), index);
    }
    let keep: Vec<bool> = changes
        .iter()
        .enumerate()
        .map(|(index, c)| last.get(&(c.user.as_str(), c.segment.as_str())) == Some(&index))
        .collect();
    let (mut kept, mut superseded) = (Vec::new(), Vec::new());
    for (change, keep) in changes.into_iter().zip(keep) {
        if keep {
            kept.push(change);
        } else {
            superseded.push(change);
        }
    }
    (kept, superseded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(user: &str, segment: &str, tick: u64, entered: bool, offset: i64) -> Change {
        Change {
            user: user.into(),
            segment: segment.into(),
            tick,
            entered,
            position: Position { partition: 0, offset },
            read_at_ms: 0,
        }
    }

    #[test]
    fn the_net_effect_per_user_and_segment_is_kept_in_order_and_exits_survive() {
        let batch = vec![
            change("u1", "a", 1, true, 0),
            change("u2", "a", 1, true, 1),
            change("u1", "a", 2, false, 2),
            change("u1", "b", 2, true, 3),
            change("u2", "a", 3, false, 4),
            change("u2", "a", 4, true, 5),
        ];
        let (kept, superseded) = coalesce(batch);
        let kept: Vec<(&str, &str, bool)> = kept.iter().map(|c| (c.user.as_str(), c.segment.as_str(), c.entered)).collect();
        assert_eq!(kept, vec![("u1", "a", false), ("u1", "b", true), ("u2", "a", true)]);
        assert_eq!(superseded.len(), 3);
    }

    #[test]
    fn delivery_ids_are_stable_and_distinguish_what_matters() {
        let a = change("u1", "s", 100, true, 0);
        let mut moved = a.clone();
        moved.position.offset = 99;
        moved.read_at_ms = 5;
        assert_eq!(
            delivery_id("p", &a),
            delivery_id("p", &moved),
            "where and when it was read do not matter"
        );
        assert_eq!(delivery_id("p", &a).len(), 32);
        assert_ne!(delivery_id("p", &a), delivery_id("q", &a));
        assert_ne!(delivery_id("p", &a), delivery_id("p", &change("u1", "s", 100, false, 0)));
        assert_ne!(delivery_id("p", &a), delivery_id("p", &change("u1", "s", 200, true, 0)));
    }
}
