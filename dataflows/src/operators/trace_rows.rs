//! The profile and stats arrangements as the engine's [`SideRows`].
//!
//! Contract: [`TraceRows`] reads the worker's shards of the two upsert arrangements
//! (the classify operator exchanges users exactly as the arrangements do, by key group
//! ([`UserKey`]), so a user's rows live on the worker that classifies it).
//! A row is in force before `tick` when its updates at times before `tick` sum to one.
//! The classify operator holds the traces' compaction frontiers at the tick it last
//! processed (or, while a snapshot as of `T` is being saved, at `T - 1`, for the
//! dormant records' rows the snapshot reads), so those sums stay exact, and builds a `TraceRows` per activation: the
//! cursors it opens are kept for the tick and moved forward through the users in the
//! order the engine asks for them (sorted; a smaller key, or one past the end, rewinds), so the users of a
//! tick cost one pass over the arrangement's keys rather than one cursor each.

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::{cursor_list, Cursor, CursorList};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{Navigable, TraceReader};
use timely::progress::Antichain;

use crate::classifier::side_rows::SideRows;
use crate::user_key::UserKey;
use segstream_rules::PackedRow;

/// An upsert arrangement of (packed) rows by user.
pub type RowTrace = TraceAgent<ValSpine<UserKey, PackedRow, u64, isize>>;

type Batch = <RowTrace as TraceReader>::Batch;
type RowCursor = CursorList<<Batch as Navigable>::Cursor>;

/// An open cursor over one trace, for the rows in force before `tick`.
struct Open {
    tick: u64,
    cursor: RowCursor,
    storage: Vec<Batch>,
}

impl Open {
    fn new(trace: &mut RowTrace, tick: u64) -> Open {
        let batches = trace.batches_through(Antichain::new().borrow()).unwrap_or_default();
        let (cursor, storage) = cursor_list(batches);
        Open { tick, cursor, storage }
    }

    /// The value of `user` in force before the tick, leaving the cursor at its key.
    fn row(&mut self, user: &UserKey) -> Option<PackedRow> {
        // Past the user (or past every key): start over.
        if self.cursor.get_key(&self.storage).is_none_or(|key| key > user) {
            self.cursor.rewind_keys(&self.storage);
        }
        self.cursor.seek_key(&self.storage, user);
        if self.cursor.get_key(&self.storage) != Some(user) {
            return None;
        }
        self.cursor.rewind_vals(&self.storage);
        self.current(PackedRow::clone)
    }

    /// What `read` makes of the value in force at the cursor's key.
    fn current<T>(&mut self, read: impl Fn(&PackedRow) -> T) -> Option<T> {
        let tick = self.tick;
        let mut found = None;
        while let Some(value) = self.cursor.get_val(&self.storage) {
            let mut count = 0;
            self.cursor.map_times(&self.storage, |time, diff| {
                if *time < tick {
                    count += *diff;
                }
            });
            if count > 0 {
                found = Some(read(value));
            }
            self.cursor.step_val(&self.storage);
        }
        found
    }

    /// Up to `limit` keys after `after`, in order, with a value in force before the tick.
    fn keys_after(&mut self, after: Option<&str>, limit: usize) -> Vec<String> {
        let mut keys = Vec::new();
        self.cursor.rewind_keys(&self.storage);
        if let Some(after) = after {
            self.cursor.seek_key(&self.storage, &UserKey::from(after));
            if self.cursor.get_key(&self.storage).is_some_and(|key| key.0 == after) {
                self.cursor.step_key(&self.storage);
            }
        }
        while keys.len() < limit {
            let Some(key) = self.cursor.get_key(&self.storage) else { break };
            let key = key.0.clone();
            self.cursor.rewind_vals(&self.storage);
            if self.current(|_| ()).is_some() {
                keys.push(key);
            }
            self.cursor.step_key(&self.storage);
        }
        keys
    }
}

/// The two arrangements, read for one activation of the classify operator.
pub struct TraceRows<'a> {
    profiles: &'a mut RowTrace,
    stats: &'a mut RowTrace,
    open: Option<(Open, Open)>,
}

impl<'a> TraceRows<'a> {
    /// Reads `profiles` and `stats`.
    pub fn new(profiles: &'a mut RowTrace, stats: &'a mut RowTrace) -> TraceRows<'a> {
        TraceRows {
            profiles,
            stats,
            open: None,
        }
    }

    fn open(&mut self, tick: u64) -> &mut (Open, Open) {
        if self.open.as_ref().is_some_and(|(p, _)| p.tick != tick) {
            self.open = None;
        }
        let (profiles, stats) = (&mut *self.profiles, &mut *self.stats);
        self.open.get_or_insert_with(|| (Open::new(profiles, tick), Open::new(stats, tick)))
    }
}

impl SideRows for TraceRows<'_> {
    fn rows_before(&mut self, user: &str, tick: u64) -> (Option<PackedRow>, Option<PackedRow>) {
        let user = UserKey::from(user);
        let (profiles, stats) = self.open(tick);
        (profiles.row(&user), stats.row(&user))
    }

    fn users_after(&mut self, tick: u64, after: Option<&str>, limit: usize) -> Vec<String> {
        let (profiles, stats) = self.open(tick);
        // Each list holds every key of its arrangement up to its last (or all that are
        // left), so the `limit` smallest of the two are the next page of the union.
        let mut users = profiles.keys_after(after, limit);
        users.extend(stats.keys_after(after, limit));
        users.sort_unstable();
        users.dedup();
        users.truncate(limit);
        users
    }
}
