//! The users a tick visits besides those with inputs, walked a slice at a time.
//!
//! Contract: without a rule change, a tick visits the users whose window-expiry timer
//! is due at it, each once. After a rule change it visits every user of the worker
//! once: first the users held when the tick's inputs were done (by dense index, from the
//! last down), then the users with only a profile or stats row (page by page in key
//! order, [`SideRows::users_after`], skipping those held or dormant), then the dormant
//! users (by index, from the last down). Users with inputs at the tick were processed
//! already and are skipped. [`Engine::visit_some`] goes through at most `budget` users
//! (a skipped user counts too) and keeps its place, so no step of a rule edit touches
//! every user at once; the ranges are fixed when the walk starts, so starting it costs
//! nothing per user.
//!
//! *Why this order holds every user exactly once:* the maps only grow at their end
//! during the walk (users rebuilt from a side row or a dormant record are added last,
//! and put back last when evicted again), and the only removal inside a range is the
//! dormant record of the user being visited (`swap_remove`: the record that takes its
//! place comes from an index already walked or from beyond the range). Side-only users
//! come before the dormant walk, so a dormant user dropped on the way (its last bits
//! gone) is not met again among the side rows.

use super::*;

/// Users per page of side-only users asked of [`SideRows::users_after`].
const SIDE_PAGE: usize = 256;

/// A tick's walk over the users it visits (see the module contract).
pub(super) enum Visit {
    /// Users with a window expiry due at the tick, sorted, each once (popped from the end).
    Due(Vec<Box<str>>),
    /// Every user, after a rule change.
    Everyone(Everyone),
}

/// Where the walk over every user stands.
pub(super) struct Everyone {
    /// Held users with an index below this are still to visit.
    held: usize,
    /// Side-only users: the last key asked for, the page being walked (reversed), and
    /// whether the last page was the end.
    side_after: Option<String>,
    side_page: Vec<String>,
    side_exhausted: bool,
    /// Dormant users with an index below this are still to visit.
    dormant: usize,
}

impl Visit {
    /// The walk over every user held or dormant now, and every side-only user.
    pub(super) fn everyone(held: usize, dormant: usize) -> Visit {
        Visit::Everyone(Everyone {
            held,
            side_after: None,
            side_page: Vec::new(),
            side_exhausted: false,
            dormant,
        })
    }
}

impl Engine {
    /// Visits up to `budget` users of the tick's walk, skipping those it processed
    /// with inputs; whether the walk is finished (also when there is none).
    pub(super) fn visit_some(
        &mut self,
        work: &mut TickWork,
        budget: usize,
        side: &mut dyn SideRows,
        out: &mut Vec<MembershipChange>,
    ) -> bool {
        let TickWork {
            now,
            changed,
            processed,
            visit,
            ..
        } = work;
        let (now, changed) = (*now, changed.as_deref().unwrap_or(&[]));
        let Some(visit) = visit.as_mut() else { return true };
        let mut budget = budget;
        let budget = &mut budget;
        let walk = match visit {
            Visit::Due(users) => {
                while let Some(user) = users.pop() {
                    if processed.contains(&*user) {
                        continue;
                    }
                    if *budget == 0 {
                        users.push(user);
                        return false;
                    }
                    *budget -= 1;
                    self.visit_user(now, &user, changed, side, out);
                }
                return true;
            }
            Visit::Everyone(walk) => walk,
        };
        loop {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let Some((user, from_side)) = self.next_of_everyone(walk, now, side) else {
                return true;
            };
            // A side row's user that is held or dormant is (or was) visited as such.
            let known = from_side && (self.users.contains_key(&user) || self.dormant.contains_key(&user));
            if !known && !processed.contains(&*user) {
                self.visit_user(now, &user, changed, side, out);
            }
        }
    }

    /// The next user of the walk over everyone, and whether it comes from the side rows;
    /// `None` when the walk is finished.
    fn next_of_everyone(&mut self, walk: &mut Everyone, now: u64, side: &mut dyn SideRows) -> Option<(Box<str>, bool)> {
        // (Indices within the ranges always exist: see the module contract.)
        while walk.held > 0 {
            walk.held -= 1;
            if let Some((name, _)) = self.users.get_index(walk.held) {
                return Some((name.clone(), false));
            }
        }
        if walk.side_page.is_empty() && !walk.side_exhausted {
            let mut page = side.users_after(now, walk.side_after.as_deref(), SIDE_PAGE);
            walk.side_exhausted = page.len() < SIDE_PAGE;
            walk.side_after = page.last().cloned();
            page.reverse();
            walk.side_page = page;
        }
        if let Some(user) = walk.side_page.pop() {
            return Some((user.into_boxed_str(), true));
        }
        while walk.dormant > 0 {
            walk.dormant -= 1;
            if let Some((name, _)) = self.dormant.get_index(walk.dormant) {
                return Some((name.clone(), false));
            }
        }
        None
    }

    /// Processes a user without inputs at `now`; one it held no state for is evicted
    /// again right after, if it may be.
    fn visit_user(&mut self, now: u64, user: &str, changed: &[usize], side: &mut dyn SideRows, out: &mut Vec<MembershipChange>) {
        let rebuilt = !self.users.contains_key(user);
        self.process_user(now, user, &mut Vec::new(), changed, side, out);
        if rebuilt {
            self.evict_rebuilt(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::engine::test_support::{engine, rule, watched, PagedRows};
    use segstream_rules::SegmentKind;

    /// 100 dormant users (`d*`, sticky members of `ever`), 100 held ones with open
    /// windows (`h*`) and 100 with only a profile row (`s*`, come after the rule change
    /// at 0, which would have made them dormant records); at 120 s a rule `quiet` is
    /// added, worked through `budget` users at a time. The changes, the side rows' pages
    /// and each user's row lookups.
    fn quiet_added(budget: usize) -> (Vec<MembershipChange>, PagedRows) {
        let mut engine = engine(ClassifierConfig {
            user_ttl_ms: 10_000,
            ..ClassifierConfig::default()
        });
        let mut side = PagedRows::default();
        for kind in ["d", "h"] {
            side.users.extend((0..100).map(|u| format!("{kind}{u:03}")));
        }
        let mut out = Vec::new();
        let ever = rule("ever", SegmentKind::Sticky, r#"count("ad_watched", "1m") >= 1"#);
        let dormant = (0..100).map(|u| watched(&format!("d{u:03}"), &format!("d{u}"), 0)).collect();
        engine.process_tick(0, vec![ever], dormant, &mut side, &mut out);
        side.users.extend((0..100).map(|u| format!("s{u:03}")));
        engine.process_tick(60_000, Vec::new(), Vec::new(), &mut side, &mut out);
        let held = (0..100).map(|u| watched(&format!("h{u:03}"), &format!("h{u}"), 70_000)).collect();
        engine.process_tick(70_000, Vec::new(), held, &mut side, &mut out);
        assert_eq!((engine.dormant_count(), engine.user_count()), (100, 100), "d* evicted, h* held");
        side.pages = 0;
        side.lookups.clear();
        out.clear();
        let quiet = rule("quiet", SegmentKind::Dynamic, r#"count("ad_watched", "1m") < 1"#);
        engine.start_tick(120_000, vec![quiet], vec![watched("h000", "again", 120_000)]);
        while !engine.continue_tick(budget, &mut side, &mut out) {}
        out.sort();
        (out, side)
    }

    #[test]
    fn a_rule_edit_visits_held_dormant_and_side_only_users_once_each_in_slices() {
        let (at_once, _) = quiet_added(usize::MAX);
        let (sliced, side) = quiet_added(3);
        assert_eq!(sliced, at_once);
        let entered: Vec<&str> = at_once.iter().filter(|c| c.entered).map(|c| c.user.as_str()).collect();
        assert_eq!(
            entered.len(),
            200,
            "every dormant and side-only user entered `quiet`, once: {entered:?}"
        );
        assert!(entered.iter().all(|u| u.starts_with('d') || u.starts_with('s')));
        assert!(at_once.iter().all(|c| c.segment == "quiet"), "{at_once:?}");
        assert_eq!(side.pages, 2, "300 users with rows are read in pages of {SIDE_PAGE}");
        let rebuilt: Vec<(&String, &usize)> = side.lookups.iter().filter(|(_, n)| **n != 1).collect();
        assert!(rebuilt.is_empty(), "a user's rows were looked up more than once: {rebuilt:?}");
        assert_eq!(side.lookups.len(), 200, "only dormant and side-only users are rebuilt");
    }
}
