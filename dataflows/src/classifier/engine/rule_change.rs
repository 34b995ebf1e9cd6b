//! A change of the rule set on this worker: the new set is compiled, every user's state
//! is re-indexed to it (feature states kept where the feature is unchanged, new features
//! started from the user's history), memberships of removed segments end, and the new
//! or edited segments are named so that every user is re-evaluated for them.

use std::collections::HashMap;

use smallbitvec::SmallBitVec;

use super::*;

impl Engine {
    /// Applies rule updates; on a new valid set, re-indexes every user and returns the
    /// indices of new or edited segments.
    pub(super) fn apply_rule_updates(
        &mut self,
        now: u64,
        updates: Vec<(SegmentDef, isize)>,
        out: &mut Vec<MembershipChange>,
    ) -> Option<Vec<usize>> {
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
        let new_ids: HashMap<&str, usize> = self
            .rules
            .set
            .segments()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.def.id.as_str(), i))
            .collect();
        // For each new feature slot, the old slot with the same spec (computed once, not per user).
        let kept_from: Vec<Option<usize>> = self
            .rules
            .set
            .features()
            .iter()
            .map(|spec| old.set.features().iter().position(|o| o == spec))
            .collect();
        // And for each old slot, the new slot that keeps its state.
        let mut moved_to: Vec<Option<usize>> = vec![None; old.set.features().len()];
        for (new_slot, from) in kept_from.iter().enumerate() {
            if let Some(old_slot) = from {
                moved_to[*old_slot] = Some(new_slot);
            }
        }
        for (name, state) in self.users.iter_mut() {
            // Membership of removed segments ends now.
            for (i, segment) in old.set.segments().iter().enumerate() {
                if state.member.get(i).unwrap_or(false) && !new_ids.contains_key(segment.def.id.as_str()) {
                    out.push(MembershipChange {
                        time: now,
                        user: name.to_string(),
                        segment: segment.def.id.clone(),
                        entered: false,
                    });
                }
            }
            let new_rules = &self.rules;
            let kept = state
                .features
                .take_all()
                .into_iter()
                .filter_map(|(old_slot, feature)| moved_to.get(old_slot).copied().flatten().map(|slot| (slot, feature)));
            let backfilled = new_rules
                .set
                .features()
                .iter()
                .zip(&new_rules.int_property)
                .zip(&kept_from)
                .enumerate()
                .filter(|(_, (_, from))| from.is_none())
                .filter_map(|(slot, ((spec, int), _))| backfill(spec, *int, &state.history, now, self.ticks).map(|s| (slot, s)));
            state.features = FeatureSlots::from_entries(kept.chain(backfilled).collect::<Vec<_>>());

            let n = new_rules.set.segments().len();
            let (mut raw, mut evaluated, mut member) = (
                SmallBitVec::from_elem(n, false),
                SmallBitVec::from_elem(n, false),
                SmallBitVec::from_elem(n, false),
            );
            for (i, segment) in old.set.segments().iter().enumerate() {
                if let Some(&j) = new_ids.get(segment.def.id.as_str()) {
                    raw.set(j, state.raw.get(i).unwrap_or(false));
                    evaluated.set(j, state.evaluated.get(i).unwrap_or(false));
                    member.set(j, state.member.get(i).unwrap_or(false));
                }
            }
            (state.raw, state.evaluated, state.member) = (raw, evaluated, member);
        }
        Some(changed)
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
