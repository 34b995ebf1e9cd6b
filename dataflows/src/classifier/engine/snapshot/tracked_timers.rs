//! The engine's window-expiry timers (users by tick), saved as of one moment while
//! they keep changing.
//!
//! Contract: [`TrackedTimers`] reads as the `BTreeMap` it wraps (`Deref`) and changes
//! only through [`TrackedTimers::take`] and [`TrackedTimers::push`].
//! [`TrackedTimers::begin_walk`] starts saving the timers as they are at that moment;
//! [`TrackedTimers::walk_some`] saves ticks in increasing order, up to a budget of
//! users at a time (a tick's users at once), each as `(tick, [(key group, user)])`;
//! until the walk is done, the first change to a tick the walk has not reached saves
//! that tick's users first (or marks it saved when it had none: a tick added after the
//! start is not saved). So the section holds every tick of the start once, with its
//! users as they were.
//!
//! Once a first walk has begun, the ticks whose users change are recorded too, and a
//! walk of [`WalkOf::Changed`] saves only the ticks changed since the previous walk
//! began, each with its users as they are at the start — none for a tick taken since:
//! laid over the previous walk's ticks tick by tick, they give the timers as they are
//! (`EngineSnapshot::apply`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use super::tracked_map::WalkOf;
use crate::classifier::section::Section;
use segstream_model::key_group::key_group;

/// Users with a timer, by tick (see the module contract).
#[derive(Default)]
pub(crate) struct TrackedTimers {
    timers: BTreeMap<u64, Vec<String>>,
    walk: Option<Walk>,
    /// Ticks changed since the last walk began (`None` before the first walk).
    changed: Option<BTreeSet<u64>>,
}

struct Walk {
    /// The ticks still to save, as they were at the start.
    pending: BTreeSet<u64>,
    saved: Section,
}

/// A tick's users as saved.
fn save(saved: &mut Section, tick: u64, users: &[String]) {
    let users: Vec<(u16, &String)> = users.iter().map(|user| (key_group(user), user)).collect();
    saved.push(&(tick, users));
}

impl Deref for TrackedTimers {
    type Target = BTreeMap<u64, Vec<String>>;

    fn deref(&self) -> &Self::Target {
        &self.timers
    }
}

impl TrackedTimers {
    /// Saves `tick`'s users if the walk has yet to, and records that they change.
    fn preserve(&mut self, tick: u64) {
        if let Some(walk) = self.walk.as_mut() {
            if walk.pending.remove(&tick) {
                save(&mut walk.saved, tick, self.timers.get(&tick).map_or(&[], Vec::as_slice));
            }
        }
        if let Some(changed) = self.changed.as_mut() {
            changed.insert(tick);
        }
    }

    /// Takes the users with a timer at `tick`.
    pub(crate) fn take(&mut self, tick: u64) -> Option<Vec<String>> {
        self.preserve(tick);
        self.timers.remove(&tick)
    }

    /// Adds a timer of `user` at `tick`.
    pub(crate) fn push(&mut self, tick: u64, user: String) {
        self.preserve(tick);
        self.timers.entry(tick).or_default().push(user);
    }

    /// Timers loaded with no walk in progress (a restore).
    pub(crate) fn extend_at(&mut self, tick: u64, users: Vec<String>) {
        debug_assert!(self.walk.is_none(), "loaded while a walk is in progress");
        self.timers.entry(tick).or_default().extend(users);
    }

    /// Starts saving the timers `of` as they are now (see the module contract), and a
    /// new record of changes. `Changed` before any walk has begun saves every tick.
    pub(crate) fn begin_walk(&mut self, of: WalkOf) {
        let pending = match (of, self.changed.replace(BTreeSet::new())) {
            (WalkOf::Changed, Some(changed)) => changed,
            _ => self.timers.keys().copied().collect(),
        };
        self.walk = Some(Walk {
            pending,
            saved: Section::default(),
        });
    }

    /// Saves ticks of the walk up to about `budget` users; the budget left, and the
    /// section once every tick is saved (the walk is then over).
    pub(crate) fn walk_some(&mut self, mut budget: usize) -> (usize, Option<Section>) {
        let Some(walk) = self.walk.as_mut() else { return (budget, None) };
        while budget > 0 {
            let Some(tick) = walk.pending.pop_first() else {
                return (budget, self.walk.take().map(|w| w.saved));
            };
            let users = self.timers.get(&tick).map_or(&[][..], Vec::as_slice);
            save(&mut walk.saved, tick, users);
            budget = budget.saturating_sub(users.len().max(1));
        }
        (budget, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rest of the walk in progress: its ticks, in order, with their users.
    fn walked(timers: &mut TrackedTimers) -> Vec<(u64, Vec<String>)> {
        let section = timers.walk_some(100).1.unwrap_or_else(|| panic!("the walk is over"));
        let bytes = section.into_chunks().unwrap_or_else(|e| panic!("{e}")).concat();
        let mut saved: Vec<(u64, Vec<(u16, String)>)> = bincode::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
        saved.sort();
        saved
            .into_iter()
            .map(|(t, us)| (t, us.into_iter().map(|(_, u)| u).collect()))
            .collect()
    }

    fn ticks(expected: &[(u64, &[&str])]) -> Vec<(u64, Vec<String>)> {
        expected
            .iter()
            .map(|(t, us)| (*t, us.iter().map(|u| u.to_string()).collect()))
            .collect()
    }

    #[test]
    fn ticks_changed_during_the_walk_are_saved_as_they_were() {
        let mut timers = TrackedTimers::default();
        for (tick, user) in [(10, "ann"), (20, "bob"), (20, "cid"), (30, "dan")] {
            timers.push(tick, user.into());
        }
        timers.begin_walk(WalkOf::All);
        assert_eq!(timers.walk_some(1).1.map(|s| s.len()), None, "tick 10 saved");
        timers.push(20, "eve".into());
        timers.take(10);
        timers.take(30);
        timers.push(25, "fay".into());
        timers.push(40, "gus".into());
        assert_eq!(walked(&mut timers), ticks(&[(10, &["ann"]), (20, &["bob", "cid"]), (30, &["dan"])]));

        // The next walk of changes: the ticks changed since this one began, as they are
        // at its start (10 and 30 taken, 20 with eve, 25 and 40 new); 50 comes after.
        timers.begin_walk(WalkOf::Changed);
        timers.push(50, "hal".into());
        timers.take(40);
        let expected = ticks(&[(10, &[]), (20, &["bob", "cid", "eve"]), (25, &["fay"]), (30, &[]), (40, &["gus"])]);
        assert_eq!(walked(&mut timers), expected);
    }
}
