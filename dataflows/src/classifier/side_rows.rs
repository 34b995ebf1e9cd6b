//! Where the engine finds the profile and stats of a user it holds no state for.
//!
//! Contract: [`SideRows::rows_before`] is a user's profile and stats rows in force just
//! before `tick`, packed as the engine keeps them (every upsert at an earlier tick applied, none at `tick`), and
//! [`SideRows::users_after`] the users of this worker with a profile or stats row then,
//! a page at a time in increasing order: at most `limit` of them, all greater than
//! `after`, and fewer than `limit` only when none is left. The engine asks when it builds a user's state — a user it has never held, or
//! one it evicted — and, at a rule change, for the users it does not hold, so that a
//! new rule reaches them too. In the dataflow the answers come from the profile and
//! stats arrangements (`operators/trace_rows.rs`); [`NoSideRows`] answers "none", for
//! hosts that feed every upsert through the engine and never evict (tests, benches).

use segstream_rules::PackedRow;

/// A worker's view of the profile and stats arrangements (see the module contract).
pub trait SideRows {
    /// The user's (profile, stats) rows in force just before `tick`.
    fn rows_before(&mut self, user: &str, tick: u64) -> (Option<PackedRow>, Option<PackedRow>);
    /// The next page of users with a profile or stats row in force just before `tick`
    /// (see the module contract).
    fn users_after(&mut self, tick: u64, after: Option<&str>, limit: usize) -> Vec<String>;
}

/// No arrangements: no user has a row.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSideRows;

impl SideRows for NoSideRows {
    fn rows_before(&mut self, _user: &str, _tick: u64) -> (Option<PackedRow>, Option<PackedRow>) {
        (None, None)
    }

    fn users_after(&mut self, _tick: u64, _after: Option<&str>, _limit: usize) -> Vec<String> {
        Vec::new()
    }
}
