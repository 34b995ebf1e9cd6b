//! What the running classifiers tell the console: audience sizes and trends, and which
//! rule-set version each worker has applied.
//!
//! Contract: a [`LiveView`] is read by the API on every request (it must answer from
//! memory, quickly). `applied` lists, per classifier worker, the highest rule-set
//! version it has applied (0: none from the repository yet); the console shows "live on
//! N of M workers at vK" from it. [`NoLive`] is the view of a console that sees no
//! classifier (it says so rather than showing zeros as sizes).

use serde::Serialize;

/// One segment's audience as the classifiers see it now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Audience {
    /// The segment.
    pub segment: String,
    /// Members now.
    pub size: i64,
    /// Users who entered in the last hour.
    pub entered_last_hour: u64,
    /// Users who left in the last hour.
    pub exited_last_hour: u64,
    /// Sizes sampled at a steady pace, oldest first (for a sparkline).
    pub trend: Vec<i64>,
}

/// What the classifiers show (see the module contract).
pub trait LiveView: Send + Sync {
    /// Every segment with members or recent moves.
    fn audiences(&self) -> Vec<Audience>;
    /// Per worker, the rule-set version it has applied.
    fn applied(&self) -> Vec<u64>;
}

/// No classifier in sight.
pub struct NoLive;

impl LiveView for NoLive {
    fn audiences(&self) -> Vec<Audience> {
        Vec::new()
    }

    fn applied(&self) -> Vec<u64> {
        Vec::new()
    }
}
