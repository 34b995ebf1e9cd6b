//! The merge policy (`classifier::Policy::apply`) on its own: dynamic and sticky
//! segments, exclusive groups by priority, parents and grandparents, and the order of
//! its steps (groups first, then parents).

mod classifier_common;

use std::collections::BTreeSet;

use classifier_common::{child_of, grouped, segment, sticky};
use segstream_dataflows::classifier::Policy;
use segstream_rules::{Limits, RuleSet, Schema, SegmentDef, UdfRegistry};

fn schema() -> Schema {
    Schema::from_toml("[events.app_opened]\nos = \"string\"\n").unwrap_or_else(|e| panic!("test schema: {e:?}"))
}

fn seg(id: &str) -> SegmentDef {
    segment(id, "true")
}

/// A compiled set's policy and its segment ids by index.
struct Fixture {
    policy: Policy,
    ids: Vec<String>,
}

impl Fixture {
    fn new(defs: Vec<SegmentDef>) -> Fixture {
        let set = match RuleSet::compile(&schema(), &defs, &UdfRegistry::new(), Limits::default()) {
            Ok(set) => set,
            Err(errors) => panic!("test set does not compile: {errors:?}"),
        };
        Fixture {
            policy: Policy::new(&set),
            ids: set.segments().iter().map(|s| s.def.id.clone()).collect(),
        }
    }

    /// Membership from the ids whose condition holds and the previous membership.
    fn apply(&self, raw: &[&str], previous: &[&str]) -> BTreeSet<String> {
        for id in raw.iter().chain(previous) {
            assert!(self.ids.iter().any(|i| i == id), "unknown id {id}");
        }
        let raw: Vec<bool> = self.ids.iter().map(|id| raw.contains(&id.as_str())).collect();
        let previous: Vec<bool> = self.ids.iter().map(|id| previous.contains(&id.as_str())).collect();
        let mut out = vec![false; self.ids.len()];
        self.policy.apply(&raw, &previous, &mut out);
        self.ids.iter().zip(out).filter(|(_, m)| *m).map(|(id, _)| id.clone()).collect()
    }
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[test]
fn a_dynamic_segment_follows_its_condition() {
    let f = Fixture::new(vec![seg("a"), seg("b")]);
    assert_eq!(f.apply(&["a"], &[]), set(&["a"]));
    assert_eq!(f.apply(&[], &["a"]), set(&[]));
    assert_eq!(f.apply(&["b"], &["a"]), set(&["b"]));
}

#[test]
fn a_sticky_segment_stays_once_entered() {
    let f = Fixture::new(vec![sticky(seg("s")), seg("d")]);
    assert_eq!(f.apply(&["s"], &[]), set(&["s"]));
    assert_eq!(f.apply(&[], &["s"]), set(&["s"]));
    assert_eq!(f.apply(&[], &["s", "d"]), set(&["s"]));
    assert_eq!(f.apply(&[], &[]), set(&[]));
}

#[test]
fn an_exclusive_group_keeps_only_the_highest_priority_candidate() {
    let f = Fixture::new(vec![
        grouped(seg("lo"), "g", 10),
        grouped(seg("hi"), "g", 30),
        grouped(seg("mid"), "g", 20),
    ]);
    assert_eq!(f.apply(&["lo", "mid", "hi"], &[]), set(&["hi"]));
    assert_eq!(f.apply(&["lo", "mid"], &[]), set(&["mid"]));
    assert_eq!(f.apply(&["lo"], &[]), set(&["lo"]));
    assert_eq!(f.apply(&[], &[]), set(&[]));
}

#[test]
fn a_new_higher_winner_replaces_the_old_one() {
    let f = Fixture::new(vec![grouped(seg("lo"), "g", 10), grouped(seg("hi"), "g", 30)]);
    assert_eq!(f.apply(&["lo", "hi"], &["lo"]), set(&["hi"]));
}

#[test]
fn when_the_winner_stops_qualifying_the_next_candidate_takes_its_place() {
    let f = Fixture::new(vec![grouped(seg("lo"), "g", 10), grouped(seg("hi"), "g", 30)]);
    assert_eq!(f.apply(&["lo"], &["hi"]), set(&["lo"]));
}

#[test]
fn a_sticky_member_of_a_group_is_replaced_by_a_higher_winner_and_not_restored() {
    let f = Fixture::new(vec![sticky(grouped(seg("lo"), "g", 10)), grouped(seg("hi"), "g", 30)]);
    assert_eq!(f.apply(&[], &["lo"]), set(&["lo"]));
    assert_eq!(f.apply(&["hi"], &["lo"]), set(&["hi"]));
    // Replaced, so no longer a member: it does not come back when the winner goes.
    assert_eq!(f.apply(&[], &["hi"]), set(&[]));
}

#[test]
fn a_sticky_winner_keeps_its_place_against_lower_priorities() {
    let f = Fixture::new(vec![grouped(seg("lo"), "g", 10), sticky(grouped(seg("hi"), "g", 30))]);
    assert_eq!(f.apply(&["lo"], &["hi"]), set(&["hi"]));
}

#[test]
fn groups_are_independent() {
    let f = Fixture::new(vec![
        grouped(seg("a1"), "a", 1),
        grouped(seg("a2"), "a", 2),
        grouped(seg("b1"), "b", 1),
        grouped(seg("b2"), "b", 2),
        seg("free"),
    ]);
    assert_eq!(f.apply(&["a1", "a2", "b1", "free"], &[]), set(&["a2", "b1", "free"]));
}

#[test]
fn a_parent_contains_its_childrens_members() {
    let f = Fixture::new(vec![seg("parent"), child_of(seg("c1"), "parent"), child_of(seg("c2"), "parent")]);
    assert_eq!(f.apply(&["c1"], &[]), set(&["c1", "parent"]));
    assert_eq!(f.apply(&["c1", "c2"], &[]), set(&["c1", "c2", "parent"]));
    // A parent with a condition of its own also holds its own qualifiers.
    assert_eq!(f.apply(&["parent"], &[]), set(&["parent"]));
    assert_eq!(f.apply(&[], &["parent", "c1"]), set(&[]));
}

#[test]
fn grandparents_contain_their_descendants_members() {
    let f = Fixture::new(vec![
        seg("root"),
        child_of(seg("mid"), "root"),
        child_of(seg("leaf"), "mid"),
        child_of(seg("other"), "root"),
    ]);
    assert_eq!(f.apply(&["leaf"], &[]), set(&["leaf", "mid", "root"]));
    assert_eq!(f.apply(&["mid"], &[]), set(&["mid", "root"]));
    assert_eq!(f.apply(&["other"], &[]), set(&["other", "root"]));
}

#[test]
fn a_child_that_loses_its_group_does_not_bring_its_parent() {
    // Groups come before parents: only the group's winner adds its ancestors.
    let f = Fixture::new(vec![
        seg("p_lo"),
        seg("p_hi"),
        child_of(grouped(seg("lo"), "g", 10), "p_lo"),
        child_of(grouped(seg("hi"), "g", 20), "p_hi"),
    ]);
    assert_eq!(f.apply(&["lo", "hi"], &[]), set(&["hi", "p_hi"]));
    assert_eq!(f.apply(&["lo"], &[]), set(&["lo", "p_lo"]));
}

#[test]
fn a_parent_cannot_be_in_an_exclusive_group() {
    // Its membership comes from its children, so it could not obey the group: such sets are rejected.
    let defs = vec![grouped(seg("p"), "g", 10), grouped(seg("x"), "g", 20), child_of(seg("c"), "p")];
    let errors = segstream_rules::validate_definitions(&defs);
    assert!(
        errors.iter().any(|e| e
            .message
            .contains("\"p\" is the parent of \"c\", so it cannot be in an exclusive group")),
        "{errors:?}"
    );
}

#[test]
fn applying_the_policy_again_changes_nothing() {
    // Idempotence on every combination of raw results: membership cannot depend on how
    // often the policy runs.
    let f = Fixture::new(vec![
        sticky(grouped(seg("a"), "g", 30)),
        grouped(seg("b"), "g", 20),
        child_of(grouped(seg("c"), "h", 1), "p"),
        child_of(sticky(seg("d")), "p"),
        grouped(seg("e"), "h", 2),
        child_of(sticky(seg("p")), "q"),
        seg("q"),
    ]);
    let ids = ["a", "b", "c", "d", "e", "p", "q"];
    for mask in 0u32..(1 << ids.len()) {
        let raw: Vec<&str> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, id)| *id)
            .collect();
        let first = f.apply(&raw, &[]);
        let first_ids: Vec<&str> = first.iter().map(String::as_str).collect();
        assert_eq!(f.apply(&raw, &first_ids), first, "raw {raw:?}");
    }
}
