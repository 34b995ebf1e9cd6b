//! The user key of the classifier's exchange and arrangements: a user id that hashes as
//! its key group.
//!
//! Contract: [`UserKey`] orders and compares as its id, and *hashes as its key group*
//! ([`segstream_model::key_group`]), so every exchange by differential's `Hashable` —
//! `arrange_from_upsert`'s among them — and the classify operator's exchange
//! ([`UserKey::route`]) send all the inputs and rows of one key group to one worker:
//! [`owner`] of the group. Which worker that is depends only on the group and the
//! number of workers, so the state saved by group can be loaded by its owner under
//! any count. It is not for hash maps (4,096 distinct hashes); those key by the id.
//!
//! ```
//! use differential_dataflow::Hashable;
//! use segstream_dataflows::user_key::{owner, UserKey};
//! use segstream_model::key_group::key_group;
//! let ann = UserKey::from("ann");
//! assert_eq!(ann.hashed(), UserKey::route("ann"));
//! assert_eq!(owner(key_group("ann"), 3), (UserKey::route("ann") % 3) as usize);
//! ```

use std::hash::{Hash, Hasher};

use differential_dataflow::Hashable;
use segstream_model::key_group::{key_group, KeyGroup};

/// A user id, hashing as its key group (see the module contract).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserKey(pub String);

impl Hash for UserKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        key_group(&self.0).hash(state);
    }
}

impl From<&str> for UserKey {
    fn from(user: &str) -> UserKey {
        UserKey(user.to_string())
    }
}

impl UserKey {
    /// The exchange hash of `user`: the same as its key's `hashed()`, without the copy.
    pub fn route(user: &str) -> u64 {
        key_group(user).hashed()
    }
}

/// The worker that owns key group `group` among `workers` (timely's exchange sends a
/// hash `h` to worker `h % workers`).
pub fn owner(group: KeyGroup, workers: usize) -> usize {
    (group.hashed() % workers.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream_model::key_group::KEY_GROUPS;

    #[test]
    fn the_key_routes_as_its_group_and_every_worker_owns_a_share() {
        for user in ["ann", "bob", "user-17", ""] {
            assert_eq!(UserKey::from(user).hashed(), UserKey::route(user), "{user}");
        }
        for workers in [1, 2, 3, 7] {
            let mut owned = vec![0usize; workers];
            (0..KEY_GROUPS).for_each(|group| owned[owner(group, workers)] += 1);
            let fair = usize::from(KEY_GROUPS) / workers;
            assert!(
                owned.iter().all(|&n| n * 10 > fair * 9 && n * 10 < fair * 11),
                "{workers}: {owned:?}"
            );
        }
    }
}
