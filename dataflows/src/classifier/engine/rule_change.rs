//! A change of the rule set on this worker: the new set is compiled, every user's state
//! is re-indexed to it (feature states kept where the feature is unchanged, new features
//! started from the user's history), memberships of removed segments end, and the new
//! or edited segments are named so that every user is re-evaluated for them. Dormant
//! users' bits (`eviction.rs`) are re-indexed the same way.
//!
//! The re-indexing is a [`Reindexing`] job worked through in slices
//! ([`Engine::reindex_some`]), a bounded number of users at a time, so that a worker
//! with millions of users yields to the scheduler during a rule edit instead of
//! stalling for the whole pass. Nothing else of the tick runs before it is done. The
//! job walks the held and the dormant users by their dense index in the engine's maps
//! (those present when the change came: nothing is removed from either map while it
//! runs), so starting it costs nothing per user — no list of ids is collected.

use std::collections::HashMap;

use smallbitvec::SmallBitVec;

use super::*;

/// A rule change's re-indexing of every user, in progress.
pub(super) struct Reindexing {
    old: ActiveRules,
    /// The new set's segment index by id.
    new_ids: HashMap<String, usize>,
    /// For each new feature slot, the old slot with the same spec.
    kept_from: Vec<Option<usize>>,
    /// For each old slot, the new slot that keeps its state.
    moved_to: Vec<Option<usize>>,
    /// How many users were held and dormant when the change came (indices below these
    /// are re-indexed), and how many of each are re-indexed so far.
    held: usize,
    dormant: usize,
    next_user: usize,
    next_dormant: usize,
}

impl Reindexing {
    pub(super) fn done(&self) -> bool {
        self.next_user == self.held && self.next_dormant == self.dormant
    }
}

impl Engine {
    /// Applies rule updates; on a new valid set, returns the indices of new or edited
    /// segments and the re-indexing of every user it needs.
    pub(super) fn apply_rule_updates(&mut self, updates: Vec<(SegmentDef, isize)>) -> Option<(Vec<usize>, Reindexing)> {
        let before = self.defs.clone();
        for (def, diff) in updates {
            let count = self.defs.entry(def.clone()).or_insert(0);
            *count += diff;
            if *count == 0 {
                self.defs.remove(&def);
            }
        }
        let active: Vec<SegmentDef> = self.defs.iter().filter(|(_, n)| **n > 0).map(|(d, _)| d.clone()).collect();
        let rules = match ActiveRules::new(&self.schema, &self.udfs, active) {
            Ok(rules) => rules,
            Err(e) => {
                self.defs = before;
                self.counters.rule_errors += 1;
                self.counters.last_rule_error = Some(e);
                return None;
            }
        };
        let changed = rules.changed_since(Some(&self.rules));
        let old = std::mem::replace(&mut self.rules, rules);
        let new_ids = self
            .rules
            .set
            .segments()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.def.id.clone(), i))
            .collect();
        // For each new feature slot, the old slot with the same spec (computed once, not per user).
        let kept_from: Vec<Option<usize>> = self
            .rules
            .set
            .features()
            .iter()
            .map(|spec| old.set.features().iter().position(|o| o == spec))
            .collect();
        let mut moved_to: Vec<Option<usize>> = vec![None; old.set.features().len()];
        for (new_slot, from) in kept_from.iter().enumerate() {
            if let Some(old_slot) = from {
                moved_to[*old_slot] = Some(new_slot);
            }
        }
        let job = Reindexing {
            old,
            new_ids,
            kept_from,
            moved_to,
            held: self.users.len(),
            dormant: self.dormant.len(),
            next_user: 0,
            next_dormant: 0,
        };
        Some((changed, job))
    }

    /// Re-indexes up to `budget` users of `job` at tick `now`; the budget left. Exits
    /// of removed segments go to `out`.
    pub(super) fn reindex_some(&mut self, job: &mut Reindexing, now: u64, mut budget: usize, out: &mut Vec<MembershipChange>) -> usize {
        let reindex = Reindex {
            old: &job.old,
            new_ids: &job.new_ids,
            segments: self.rules.set.segments().len(),
            now,
        };
        while budget > 0 && job.next_user < job.held {
            let index = job.next_user;
            job.next_user += 1;
            budget -= 1;
            let new_rules = &self.rules;
            let Some((name, state)) = self.users.get_index_mut(index) else {
                continue;
            };
            let kept = state
                .features
                .take_all()
                .into_iter()
                .filter_map(|(old_slot, feature)| job.moved_to.get(old_slot).copied().flatten().map(|slot| (slot, feature)));
            let backfilled = new_rules
                .set
                .features()
                .iter()
                .zip(&new_rules.int_property)
                .zip(&job.kept_from)
                .enumerate()
                .filter(|(_, (_, from))| from.is_none())
                .filter_map(|(slot, ((spec, int), _))| backfill(spec, *int, &state.history, now, self.ticks).map(|s| (slot, s)));
            state.features = FeatureSlots::from_entries(kept.chain(backfilled).collect::<Vec<_>>());
            state.raw = reindex.bits(&state.raw);
            state.evaluated = reindex.bits(&state.evaluated);
            state.member = reindex.membership(name, &state.member, out);
        }
        // Dormant users keep their bits by the new indices too (their exits are due now).
        while budget > 0 && job.next_dormant < job.dormant {
            let index = job.next_dormant;
            job.next_dormant += 1;
            budget -= 1;
            let Some((name, dormant)) = self.dormant.get_index_mut(index) else {
                continue;
            };
            dormant.raw = reindex.bits(&dormant.raw);
            dormant.member = reindex.membership(name, &dormant.member, out);
        }
        budget
    }
}

/// Moves per-segment bits from the old set's indices to the new set's.
struct Reindex<'a> {
    old: &'a ActiveRules,
    new_ids: &'a HashMap<String, usize>,
    segments: usize,
    now: u64,
}

impl Reindex<'_> {
    /// `bits` by the new indices; segments new to the set get `false`.
    fn bits(&self, bits: &SmallBitVec) -> SmallBitVec {
        let mut moved = SmallBitVec::from_elem(self.segments, false);
        for (i, segment) in self.old.set.segments().iter().enumerate() {
            if let Some(&j) = self.new_ids.get(segment.def.id.as_str()) {
                moved.set(j, bits.get(i).unwrap_or(false));
            }
        }
        moved
    }

    /// A membership by the new indices, emitting the exits of removed segments.
    fn membership(&self, user: &str, member: &SmallBitVec, out: &mut Vec<MembershipChange>) -> SmallBitVec {
        for (i, segment) in self.old.set.segments().iter().enumerate() {
            if member.get(i).unwrap_or(false) && !self.new_ids.contains_key(segment.def.id.as_str()) {
                out.push(MembershipChange {
                    time: self.now,
                    user: user.to_string(),
                    segment: segment.def.id.clone(),
                    entered: false,
                });
            }
        }
        self.bits(member)
    }
}

/// A new feature's state built from a user's history, or `None` if it holds nothing.
fn backfill(
    spec: &segstream_rules::FeatureSpec,
    int: bool,
    history: &std::collections::VecDeque<HistoryEvent>,
    now: u64,
    ticks: Ticks,
) -> Option<FeatureState> {
    let mut fresh = FeatureState::new(spec, int);
    for e in history {
        if spec.event_types().any(|t| t == e.event_type as usize) {
            fresh.add(
                spec,
                FeatureInput {
                    event_type: e.event_type,
                    time: e.time,
                    id: &e.id,
                    properties: &e.properties,
                },
                now,
                ticks,
            );
        }
    }
    (!fresh.is_empty()).then_some(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::engine::test_support::{engine, rule, watched};
    use crate::classifier::side_rows::NoSideRows;
    use segstream_rules::SegmentKind;

    /// Two events at 0 and 10 s under rules whose longest window is 1 minute; at 2
    /// minutes an edit adds a 10-minute rule that needs both. Whether the new rule
    /// sees them depends on the history kept: never more than the longest window in
    /// force (here 1 minute, so they are gone), nor more than configured.
    fn member_after_edit(history_ms: u64) -> bool {
        let mut engine = engine(ClassifierConfig {
            history_ms,
            ..ClassifierConfig::default()
        });
        let mut out = Vec::new();
        let short = rule("recent", SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 5"#);
        engine.process_tick(0, vec![short.clone()], vec![watched("ann", "a1", 0)], &mut NoSideRows, &mut out);
        engine.process_tick(10_000, Vec::new(), vec![watched("ann", "a2", 10_000)], &mut NoSideRows, &mut out);
        while let Some(tick) = engine.next_timer().filter(|t| *t < 120_000) {
            engine.process_tick(tick, Vec::new(), Vec::new(), &mut NoSideRows, &mut out);
        }
        let long = rule("regular", SegmentKind::Dynamic, r#"count("ad_watched", "10m") >= 2"#);
        engine.process_tick(120_000, vec![long], Vec::new(), &mut NoSideRows, &mut out);
        out.iter().any(|c| c.segment == "regular" && c.entered)
    }

    #[test]
    fn history_is_kept_only_as_long_as_the_longest_window_in_force() {
        assert!(!member_after_edit(24 * 3_600_000), "the 1-minute rules did not keep the events");
    }

    #[test]
    fn rules_with_longer_windows_keep_longer_history_up_to_the_configured_one() {
        let mut engine = engine(ClassifierConfig::default());
        let mut out = Vec::new();
        let long = rule("daily", SegmentKind::Dynamic, r#"count("ad_watched", "1d") >= 5"#);
        engine.process_tick(
            0,
            vec![long],
            vec![watched("ann", "a1", 0), watched("ann", "a2", 10)],
            &mut NoSideRows,
            &mut out,
        );
        let added = rule("pair", SegmentKind::Dynamic, r#"count("ad_watched", "10m") >= 2"#);
        engine.process_tick(120_000, vec![added], Vec::new(), &mut NoSideRows, &mut out);
        assert!(out.iter().any(|c| c.segment == "pair" && c.entered), "{out:?}");
        assert!(!member_after_edit(0), "no history configured: no backfill");
    }

    /// 1,000 users with events; at 120 s an edit removes one rule and adds another.
    fn edited(budget: usize) -> (Vec<MembershipChange>, usize) {
        let mut engine = engine(ClassifierConfig::default());
        let mut out = Vec::new();
        let once = rule("once", SegmentKind::Dynamic, r#"count("ad_watched", "1d") >= 1"#);
        let inputs = (0..1_000)
            .map(|u| watched(&format!("u{u}"), &format!("e{u}"), (u % 7) * 1_000))
            .collect();
        engine.process_tick(0, vec![once.clone()], inputs, &mut NoSideRows, &mut out);
        let twice = rule(
            "twice",
            SegmentKind::Dynamic,
            r#"count("ad_watched", "1d") >= 1 && count("ad_watched", "1h") < 5"#,
        );
        let (removed, _) = once;
        engine.start_tick(120_000, vec![(removed, -1), twice], vec![watched("u3", "late", 120_000)]);
        let mut slices = 0;
        while !engine.continue_tick(budget, &mut NoSideRows, &mut out) {
            slices += 1;
            assert_eq!(engine.tick_in_progress(), Some(120_000));
            assert_eq!(engine.last_tick(), Some(0), "the tick is not done until its last slice");
        }
        assert_eq!(engine.tick_in_progress(), None);
        out.sort();
        (out, slices)
    }

    #[test]
    fn a_rule_edit_over_many_users_in_slices_equals_it_at_once() {
        let (at_once, none) = edited(usize::MAX);
        let (sliced, slices) = edited(64);
        assert_eq!(none, 0);
        assert!(
            slices >= 2_000 / 64 - 1,
            "re-indexing and re-evaluating 1,000 users took {slices} slices"
        );
        assert_eq!(sliced, at_once);
        let exits = at_once
            .iter()
            .filter(|c| c.segment == "once" && !c.entered && c.time == 120_000)
            .count();
        let enters = at_once
            .iter()
            .filter(|c| c.segment == "twice" && c.entered && c.time == 120_000)
            .count();
        assert_eq!(
            (exits, enters),
            (1_000, 1_000),
            "every user left the removed segment and entered the new one"
        );
    }
}
