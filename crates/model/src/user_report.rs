//! What a classifier holds about one user: the record of the console's user lookup.
//!
//! Contract: a [`UserReport`] is exact at the event time `as_of_ms` (the last tick the
//! answering worker processed). It lists every segment of the rule set in force on that
//! worker, with the user's membership (after the merge policy), the condition's last
//! result, and every input the condition reads — each feature as the rule text declares
//! it (`count("ad_watched", "7d")`), each profile and stats field as `profile.<name>` /
//! `stats.<name>`, and `now()` — with the value the condition reads (JSON; `null` for
//! unset). `held` says how the worker holds the user: `active` (full state), `dormant`
//! (evicted for idleness: memberships, condition results and rows kept, windowed
//! features empty) or `rows` (only a profile or stats row, never classified yet).
//!
//! ```
//! use segstream_model::user_report::{Reading, SegmentReading, UserReport};
//! let report = UserReport {
//!     user: "u1".into(), as_of_ms: 1_000, worker: 0, held: "active".into(),
//!     segments: vec![SegmentReading { segment: "whales".into(), member: true, condition: true,
//!         reads: vec![Reading { input: "stats.revenue".into(), value: serde_json::json!(120.5) }] }],
//! };
//! assert_eq!(report.member_of(), vec!["whales"]);
//! let wire = serde_json::to_string(&report).unwrap();
//! assert_eq!(serde_json::from_str::<UserReport>(&wire).unwrap(), report);
//! ```

use serde::{Deserialize, Serialize};

/// One user as a classifier worker holds them (see the module contract).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserReport {
    /// The user id.
    pub user: String,
    /// The event time (tick, ms since the epoch) the report is exact at.
    pub as_of_ms: u64,
    /// The worker (across all processes) that holds the user.
    pub worker: usize,
    /// `active`, `dormant` or `rows`.
    pub held: String,
    /// Every segment in force, by id.
    pub segments: Vec<SegmentReading>,
}

/// One segment for one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentReading {
    /// The segment id.
    pub segment: String,
    /// Whether the user is a member (after the merge policy).
    pub member: bool,
    /// The condition's last result.
    pub condition: bool,
    /// What the condition reads, with the values it reads.
    pub reads: Vec<Reading>,
}

/// One input of a condition and its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The input as rule text: a feature call, `profile.<field>`, `stats.<field>` or `now()`.
    pub input: String,
    /// Its value (`null` when unset).
    pub value: serde_json::Value,
}

impl UserReport {
    /// The segments the user is a member of.
    pub fn member_of(&self) -> Vec<&str> {
        self.segments.iter().filter(|s| s.member).map(|s| s.segment.as_str()).collect()
    }
}
