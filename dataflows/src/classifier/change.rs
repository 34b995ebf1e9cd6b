//! What the classifier emits: membership changes.
//!
//! Contract: a [`MembershipChange`] says that at event time `time` (a tick) `user`
//! entered or exited `segment`. For each user and segment, changes alternate enter,
//! exit, enter, … in time order. Changes order by time, then user, then segment.

use serde::{Deserialize, Serialize};

/// One user entering or leaving one segment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MembershipChange {
    /// The tick at which it holds.
    pub time: u64,
    /// The user.
    pub user: String,
    /// The segment id.
    pub segment: String,
    /// `true` for enter, `false` for exit.
    pub entered: bool,
}

impl MembershipChange {
    /// Changes from a differential update of `(user, segment)` with a diff (+1 enter, −1 exit).
    pub fn from_update(user: &str, segment: &str, time: u64, diff: isize) -> MembershipChange {
        MembershipChange {
            time,
            user: user.to_string(),
            segment: segment.to_string(),
            entered: diff > 0,
        }
    }
}
