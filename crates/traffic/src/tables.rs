//! The users' profiles and stats, published as the upserts a CDC pipeline and the batch
//! layer would send (into `user-profiles` and `user-stats`).
//!
//! Contract: [`upserts`] lists one record per user for each table, keyed by the
//! (prefixed) user id, the value the traffic model's profile or stats JSON: the record
//! a `user-profiles` or `user-stats` topic holds (key = user, value = a JSON object of
//! fields, read by the classifier's side inputs with the schema).

use crate::game::{Traffic, TrafficConfig};

/// Which table a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `user-profiles`.
    Profiles,
    /// `user-stats`.
    Stats,
}

/// Every user's profile and stats upsert: `(table, key, JSON value)`.
pub fn upserts(traffic: TrafficConfig, prefix: &str) -> impl Iterator<Item = (Table, String, String)> + '_ {
    let model = Traffic::new(traffic, 0, 1);
    (0..traffic.users).flat_map(move |user| {
        let key = format!("{prefix}u{user}");
        [
            (Table::Profiles, key.clone(), model.profile(user).to_string()),
            (Table::Stats, key, model.stats(user).to_string()),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_a_profile_and_a_stats_record_under_its_prefixed_key() {
        let config = TrafficConfig {
            users: 3,
            ..TrafficConfig::default()
        };
        let all: Vec<(Table, String, String)> = upserts(config, "r1-").collect();
        assert_eq!(all.len(), 6);
        assert_eq!((all[4].0, all[4].1.as_str()), (Table::Profiles, "r1-u2"));
        assert_eq!((all[5].0, all[5].1.as_str()), (Table::Stats, "r1-u2"));
        assert!(all[4].2.contains("birthDate"), "{}", all[4].2);
    }
}
