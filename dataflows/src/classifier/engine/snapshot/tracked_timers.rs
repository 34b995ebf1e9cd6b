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

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use crate::classifier::section::Section;
use segstream_model::key_group::key_group;

/// Users with a timer, by tick (see the module contract).
#[derive(Default)]
pub(crate) struct TrackedTimers {
    timers: BTreeMap<u64, Vec<String>>,
    walk: Option<Walk>,
}

struct Walk {
    /// Ticks from this one on are not walked yet.
    next: u64,
    /// Ticks from `next` on saved (or found empty) by a change.
    copied: BTreeSet<u64>,
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
    fn preserve(&mut self, tick: u64) {
        let Some(walk) = self.walk.as_mut().filter(|w| tick >= w.next) else {
            return;
        };
        if walk.copied.insert(tick) {
            if let Some(users) = self.timers.get(&tick) {
                save(&mut walk.saved, tick, users);
            }
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

    /// Starts saving the timers as they are now (see the module contract).
    pub(crate) fn begin_walk(&mut self) {
        self.walk = Some(Walk {
            next: 0,
            copied: BTreeSet::new(),
            saved: Section::default(),
        });
    }

    /// Saves ticks of the walk up to about `budget` users; the budget left, and the
    /// section once every tick is saved (the walk is then over).
    pub(crate) fn walk_some(&mut self, mut budget: usize) -> (usize, Option<Section>) {
        let Some(walk) = self.walk.as_mut() else { return (budget, None) };
        while budget > 0 {
            let Some((&tick, users)) = self.timers.range(walk.next..).next() else {
                return (budget, self.walk.take().map(|w| w.saved));
            };
            walk.next = tick.saturating_add(1);
            if !walk.copied.remove(&tick) {
                save(&mut walk.saved, tick, users);
                budget = budget.saturating_sub(users.len().max(1));
            }
        }
        (budget, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_changed_during_the_walk_are_saved_as_they_were() {
        let mut timers = TrackedTimers::default();
        for (tick, user) in [(10, "ann"), (20, "bob"), (20, "cid"), (30, "dan")] {
            timers.push(tick, user.into());
        }
        timers.begin_walk();
        assert_eq!(timers.walk_some(1).1.map(|s| s.len()), None, "tick 10 saved");
        timers.push(20, "eve".into());
        timers.take(10);
        timers.take(30);
        timers.push(25, "fay".into());
        timers.push(40, "gus".into());
        let section = timers.walk_some(100).1.unwrap_or_else(|| panic!("the walk is over"));
        let bytes = section.into_chunks().unwrap_or_else(|e| panic!("{e}")).concat();
        let mut saved: Vec<(u64, Vec<(u16, String)>)> = bincode::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
        saved.sort();
        let users: Vec<(u64, Vec<&str>)> = saved
            .iter()
            .map(|(t, us)| (*t, us.iter().map(|(_, u)| u.as_str()).collect()))
            .collect();
        assert_eq!(users, vec![(10, vec!["ann"]), (20, vec!["bob", "cid"]), (30, vec!["dan"])]);
    }
}
