//! The merge policy: from the raw truth of each segment's condition to membership.
//!
//! Contract, for one user at one tick, segments indexed as in the [`RuleSet`]:
//! 1. candidates = segments whose condition holds, plus sticky segments the user was
//!    already a member of (once entered, a sticky segment stays);
//! 2. in each exclusive group only the candidate with the highest priority remains (a
//!    new winner replaces the old one, sticky or not);
//! 3. every ancestor (parent, grandparent, …) of a remaining segment is added: a parent
//!    contains every member of its children, whatever its own condition.
//!
//! [`Policy::apply`] is a pure function of (raw results, previous membership);
//! [`Policy::apply_with`] is the same function over any storage of them (the engine keeps
//! them as bit sets and reads them in place).

use std::collections::HashMap;

use segstream_rules::{RuleSet, SegmentKind};

/// The merge policy of a rule set, precomputed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    sticky: Vec<bool>,
    /// Each group's segments, highest priority first.
    groups: Vec<Vec<usize>>,
    parent: Vec<Option<usize>>,
}

impl Policy {
    /// The policy of a compiled set (parents exist and are acyclic: the set validated it).
    pub fn new(set: &RuleSet) -> Policy {
        let defs: Vec<_> = set.segments().iter().map(|s| &s.def).collect();
        let index: HashMap<&str, usize> = defs.iter().enumerate().map(|(i, d)| (d.id.as_str(), i)).collect();
        let mut by_group: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, def) in defs.iter().enumerate() {
            if let Some(group) = &def.group {
                by_group.entry(group).or_default().push(i);
            }
        }
        let mut groups: Vec<Vec<usize>> = by_group.into_values().collect();
        for group in &mut groups {
            group.sort_by_key(|&i| std::cmp::Reverse(defs[i].priority.unwrap_or(0)));
        }
        groups.sort();
        Policy {
            sticky: defs.iter().map(|d| d.kind == SegmentKind::Sticky).collect(),
            groups,
            parent: defs
                .iter()
                .map(|d| d.parent.as_deref().and_then(|p| index.get(p).copied()))
                .collect(),
        }
    }

    /// Membership from raw condition results and the previous membership (all three
    /// slices have one entry per segment).
    pub fn apply(&self, raw: &[bool], previous: &[bool], out: &mut [bool]) {
        self.apply_with(
            |i| raw.get(i).copied().unwrap_or(false),
            |i| previous.get(i).copied().unwrap_or(false),
            out,
        );
    }

    /// [`Policy::apply`] with the raw results and the previous membership read by
    /// segment index (`out` has one entry per segment).
    pub fn apply_with(&self, raw: impl Fn(usize) -> bool, previous: impl Fn(usize) -> bool, out: &mut [bool]) {
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = raw(i) || (self.sticky.get(i).copied().unwrap_or(false) && previous(i));
        }
        for group in &self.groups {
            let mut won = false;
            for &i in group {
                if won {
                    out[i] = false;
                } else if out[i] {
                    won = true;
                }
            }
        }
        for i in 0..out.len() {
            if out[i] {
                let mut at = self.parent[i];
                let mut steps = 0;
                while let Some(p) = at {
                    if steps > out.len() {
                        break;
                    }
                    out[p] = true;
                    at = self.parent[p];
                    steps += 1;
                }
            }
        }
    }
}
