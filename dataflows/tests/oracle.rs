//! The brute-force oracle (`classifier::oracle`) on tiny scenarios whose membership
//! changes are computed by hand from the specification: windows, duplicates, profile and
//! stats upserts, rule snapshots, the merge policy, and `now()` (which never fires by the
//! clock alone). Tick: 100 ms throughout.

mod classifier_common;

use std::collections::BTreeMap;

use classifier_common::{child_of, enter, exit, grouped, segment, sticky};
use segstream_dataflows::classifier::{ClassifierConfig, MembershipChange};
use segstream_model::event::{Event, Row};
use segstream_oracle::{expected_changes, Scenario};
use segstream_rules::{FieldValue, Schema, SegmentDef, UdfRegistry};

const SCHEMA: &str = r#"
[profile]
gender = "string"
birthDate = "date"

[stats]
isRegularPlayer = "bool"

[events.purchase]
amount = "double"

[events.ad_watched]

[events.app_opened]
os = "string"
"#;

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

fn schema() -> Schema {
    Schema::from_toml(SCHEMA).unwrap_or_else(|e| panic!("test schema: {e:?}"))
}

fn event(id: &str, user: &str, kind: &str, time: u64, properties: Row) -> Event {
    let event_type = schema().event_type(kind).unwrap_or_else(|| panic!("no event type {kind}"));
    Event {
        time,
        id: id.into(),
        user: user.into(),
        event_type: event_type as u32,
        properties,
        client_time: time as i64,
        sent_at: time as i64,
        received_at: time as i64,
    }
}

fn ad(id: &str, user: &str, time: u64) -> Event {
    event(id, user, "ad_watched", time, vec![])
}

fn opened(id: &str, user: &str, time: u64) -> Event {
    event(id, user, "app_opened", time, vec![Some(FieldValue::Str("ios".into()))])
}

fn purchase(id: &str, user: &str, time: u64, amount: f64) -> Event {
    event(id, user, "purchase", time, vec![Some(FieldValue::Double(amount))])
}

/// A profile row (slots in name order: birthDate, gender).
fn gender(value: &str) -> Option<Row> {
    Some(vec![None, Some(FieldValue::Str(value.into()))])
}

fn regular(value: bool) -> Option<Row> {
    Some(vec![Some(FieldValue::Bool(value))])
}

fn scenario(rules: Vec<(u64, Vec<SegmentDef>)>, events: Vec<Event>) -> Scenario {
    Scenario {
        config: ClassifierConfig::default(),
        rules,
        events,
        ..Scenario::default()
    }
}

fn sorted(mut changes: Vec<MembershipChange>) -> Vec<MembershipChange> {
    changes.sort();
    changes
}

/// Runs the oracle and checks the invariants every answer has: sorted, and per user and
/// segment alternating enter, exit, enter, … starting with an enter.
fn run(scenario: &Scenario) -> Vec<MembershipChange> {
    let changes = expected_changes(&schema(), &UdfRegistry::new(), scenario).unwrap_or_else(|e| panic!("oracle failed: {e}"));
    assert!(changes.windows(2).all(|w| w[0] <= w[1]), "not sorted: {changes:?}");
    let mut member: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for change in &changes {
        let was = member.insert((&change.user, &change.segment), change.entered).unwrap_or(false);
        assert_ne!(was, change.entered, "changes do not alternate: {changes:?}");
    }
    changes
}

fn run_err(scenario: &Scenario) -> String {
    match expected_changes(&schema(), &UdfRegistry::new(), scenario) {
        Ok(changes) => panic!("expected an error, got {changes:?}"),
        Err(e) => e,
    }
}

const BINGE: &str = r#"count("ad_watched", "10m") >= 3"#;

#[test]
fn count_enters_at_the_third_event_and_exits_when_the_first_leaves_the_window() {
    let s = scenario(
        vec![(0, vec![segment("binge", BINGE)])],
        vec![
            ad("a1", "alice", 1_050),           // tick 1_000
            ad("a2", "alice", 2 * MINUTE),      // tick 120_000
            ad("a3", "alice", 4 * MINUTE + 99), // tick 240_000
        ],
    );
    assert_eq!(
        run(&s),
        vec![enter(4 * MINUTE, "alice", "binge"), exit(1_000 + 10 * MINUTE, "alice", "binge")]
    );
}

#[test]
fn a_window_covers_its_right_end_and_not_its_left_end() {
    // Ticks 0, 1_000, 600_000: at 600_000 the first event (tick 0) has just left the
    // 10-minute window, so the count is 2 there, never 3.
    let s = scenario(
        vec![(0, vec![segment("binge", BINGE)])],
        vec![ad("a1", "alice", 0), ad("a2", "alice", 1_000), ad("a3", "alice", 10 * MINUTE)],
    );
    assert_eq!(run(&s), vec![]);
    // One tick earlier, all three are in the window for one tick.
    let s = scenario(
        vec![(0, vec![segment("binge", BINGE)])],
        vec![ad("a1", "alice", 0), ad("a2", "alice", 1_000), ad("a3", "alice", 10 * MINUTE - 100)],
    );
    assert_eq!(
        run(&s),
        vec![enter(10 * MINUTE - 100, "alice", "binge"), exit(10 * MINUTE, "alice", "binge")]
    );
}

#[test]
fn the_order_of_events_does_not_matter() {
    let events = vec![
        ad("a1", "alice", 1_000),
        ad("b1", "bob", 1_500),
        ad("a2", "alice", 2_000),
        ad("a1", "alice", 1_000),
        ad("a3", "alice", 3_000),
        ad("b2", "bob", 9_000),
    ];
    let forward = run(&scenario(vec![(0, vec![segment("binge", BINGE)])], events.clone()));
    let backward = run(&scenario(
        vec![(0, vec![segment("binge", BINGE)])],
        events.into_iter().rev().collect(),
    ));
    assert_eq!(forward, vec![enter(3_000, "alice", "binge"), exit(601_000, "alice", "binge")]);
    assert_eq!(forward, backward);
}

#[test]
fn duplicates_count_once() {
    let s = scenario(
        vec![(0, vec![segment("binge", BINGE)])],
        vec![
            ad("a1", "alice", 1_000),
            ad("a1", "alice", 1_000),
            ad("a2", "alice", 2_000),
            ad("a2", "alice", 2_000),
        ],
    );
    assert_eq!(run(&s), vec![]);
    let mut s = s;
    s.events.push(ad("a3", "alice", 3_000));
    assert_eq!(run(&s), vec![enter(3_000, "alice", "binge"), exit(601_000, "alice", "binge")]);
}

#[test]
fn of_duplicates_the_copy_with_the_earlier_tick_wins() {
    let rules = vec![(0, vec![segment("watcher", r#"count("ad_watched", "10m") >= 1"#)])];
    let s = scenario(rules, vec![ad("a1", "alice", 5 * MINUTE), ad("a1", "alice", 5_000)]);
    // Only the copy at tick 5_000 exists: nothing happens at 5 minutes.
    assert_eq!(
        run(&s),
        vec![enter(5_000, "alice", "watcher"), exit(5_000 + 10 * MINUTE, "alice", "watcher")]
    );
}

#[test]
fn duplicates_in_the_same_tick_keep_the_smallest_event() {
    let rules = vec![(
        0,
        vec![segment(
            "late_watcher",
            r#"last_seen("ad_watched") == timestamp("1970-01-01T00:00:01Z") && count("ad_watched", "10m") == 1"#,
        )],
    )];
    // Same user, same id, same tick: Event orders by time first, so the 1_010 copy is kept (one event, tick 1_000).
    let s = scenario(rules, vec![ad("x", "alice", 1_050), ad("x", "alice", 1_010)]);
    assert_eq!(
        run(&s),
        vec![enter(1_000, "alice", "late_watcher"), exit(601_000, "alice", "late_watcher")]
    );
}

#[test]
fn the_same_id_for_two_users_is_two_events() {
    let rules = vec![(0, vec![segment("watcher", r#"count("ad_watched", "10m") >= 1"#)])];
    let s = scenario(rules, vec![ad("x", "alice", 1_050), ad("x", "bob", 1_010)]);
    assert_eq!(
        run(&s),
        vec![
            enter(1_000, "alice", "watcher"),
            enter(1_000, "bob", "watcher"),
            exit(601_000, "alice", "watcher"),
            exit(601_000, "bob", "watcher")
        ]
    );
}

#[test]
fn a_profile_upsert_then_delete_enters_then_exits() {
    let mut s = scenario(vec![(0, vec![segment("women", r#"profile.gender == "female""#)])], vec![]);
    s.profiles = vec![
        (10_000, "alice".into(), gender("female")),
        (20_000, "alice".into(), gender("female")),
        (30_000, "alice".into(), None),
        (40_000, "bob".into(), gender("male")),
    ];
    assert_eq!(run(&s), vec![enter(10_000, "alice", "women"), exit(30_000, "alice", "women")]);
}

#[test]
fn an_identical_profile_upsert_triggers_nothing() {
    // The condition reads now(), so re-evaluating it at 30 s would make it true: it is
    // not re-evaluated there, because the gender did not change and there is no event.
    let when = r#"has(profile.gender) && now() >= timestamp("1970-01-01T00:00:25Z")"#;
    let mut s = scenario(vec![(0, vec![segment("late", when)])], vec![]);
    s.profiles = vec![
        (10_000, "alice".into(), gender("female")),
        (30_000, "alice".into(), gender("female")),
        (40_000, "alice".into(), gender("other")),
    ];
    assert_eq!(run(&s), vec![enter(40_000, "alice", "late")]);
}

#[test]
fn of_upserts_in_the_same_tick_the_greatest_wins() {
    let rules = vec![(
        0,
        vec![
            segment("women", r#"profile.gender == "female""#),
            segment("men", r#"profile.gender == "male""#),
        ],
    )];
    let mut s = scenario(rules, vec![]);
    // Some(_) > None: the upsert beats the delete.
    s.profiles = vec![(10_000, "alice".into(), gender("female")), (10_000, "alice".into(), None)];
    assert_eq!(run(&s), vec![enter(10_000, "alice", "women")]);
    // "male" > "female".
    s.profiles = vec![(10_000, "alice".into(), gender("male")), (10_000, "alice".into(), gender("female"))];
    assert_eq!(run(&s), vec![enter(10_000, "alice", "men")]);
}

#[test]
fn stats_upserts_and_deletes() {
    let mut s = scenario(vec![(0, vec![segment("regulars", "stats.isRegularPlayer")])], vec![]);
    s.stats = vec![
        (1_000, "alice".into(), regular(false)),
        (2_000, "alice".into(), regular(true)),
        (3_000, "alice".into(), regular(true)),
        (4_000, "alice".into(), None),
        (5_000, "alice".into(), regular(true)),
        (6_000, "alice".into(), regular(false)),
    ];
    assert_eq!(
        run(&s),
        vec![
            enter(2_000, "alice", "regulars"),
            exit(4_000, "alice", "regulars"),
            enter(5_000, "alice", "regulars"),
            exit(6_000, "alice", "regulars"),
        ]
    );
}

#[test]
fn a_user_known_only_by_a_delete_is_evaluated() {
    let mut s = scenario(vec![(0, vec![segment("everyone", "true")])], vec![]);
    s.stats = vec![(5_000, "ghost".into(), None)];
    assert_eq!(run(&s), vec![enter(5_000, "ghost", "everyone")]);
}

const OPENED: &str = r#"count("app_opened", "1h") >= 1"#;

#[test]
fn a_snapshot_adding_a_segment_evaluates_every_known_user_at_its_tick() {
    let mut s = scenario(
        vec![(0, vec![]), (50_000, vec![segment("opened", OPENED)])],
        vec![opened("a1", "alice", 1_000), opened("c1", "carol", 70_000)],
    );
    s.profiles = vec![(2_000, "bob".into(), gender("male"))];
    assert_eq!(
        run(&s),
        sorted(vec![
            enter(50_000, "alice", "opened"),
            exit(1_000 + HOUR, "alice", "opened"),
            enter(70_000, "carol", "opened"),
            exit(70_000 + HOUR, "carol", "opened"),
        ])
    );
}

#[test]
fn a_snapshot_removing_a_segment_exits_its_members_at_its_tick() {
    let s = scenario(
        vec![(0, vec![segment("opened", OPENED)]), (50_000, vec![])],
        vec![opened("a1", "alice", 1_000), ad("b1", "bob", 2_000)],
    );
    assert_eq!(run(&s), vec![enter(1_000, "alice", "opened"), exit(50_000, "alice", "opened")]);
}

#[test]
fn removing_a_child_exits_its_parent_too() {
    let payers = segment("payers", "false");
    let buyers = child_of(segment("buyers", r#"count("purchase", "1h") >= 1"#), "payers");
    let s = scenario(
        vec![(0, vec![payers.clone(), buyers]), (50_000, vec![payers])],
        vec![purchase("p1", "alice", 1_000, 5.0)],
    );
    assert_eq!(
        run(&s),
        vec![
            enter(1_000, "alice", "buyers"),
            enter(1_000, "alice", "payers"),
            exit(50_000, "alice", "buyers"),
            exit(50_000, "alice", "payers"),
        ]
    );
}

#[test]
fn editing_a_threshold_re_evaluates_at_the_snapshot_tick() {
    let s = scenario(
        vec![
            (0, vec![segment("binge", BINGE)]),
            (50_000, vec![segment("binge", r#"count("ad_watched", "10m") >= 2"#)]),
            (100_000, vec![segment("binge", BINGE)]),
        ],
        vec![ad("a1", "alice", 1_000), ad("a2", "alice", 2_000), ad("b1", "bob", 1_000)],
    );
    assert_eq!(run(&s), vec![enter(50_000, "alice", "binge"), exit(100_000, "alice", "binge")]);
}

#[test]
fn an_identical_snapshot_changes_nothing() {
    let s = scenario(
        vec![(0, vec![segment("opened", OPENED)]), (50_000, vec![segment("opened", OPENED)])],
        vec![opened("a1", "alice", 1_000)],
    );
    assert_eq!(
        run(&s),
        vec![enter(1_000, "alice", "opened"), exit(1_000 + HOUR, "alice", "opened")]
    );
}

#[test]
fn rules_before_the_first_snapshot_are_empty() {
    let s = scenario(vec![(50_000, vec![segment("opened", OPENED)])], vec![opened("a1", "alice", 1_000)]);
    assert_eq!(
        run(&s),
        vec![enter(50_000, "alice", "opened"), exit(1_000 + HOUR, "alice", "opened")]
    );
    let s = scenario(vec![], vec![opened("a1", "alice", 1_000)]);
    assert_eq!(run(&s), vec![]);
}

#[test]
fn a_sticky_segment_stays_after_its_condition_turns_false() {
    let rules = vec![(
        0,
        vec![
            sticky(segment("buyer", r#"count("purchase", "10m") >= 1"#)),
            segment("recent_buyer", r#"count("purchase", "10m") >= 1"#),
        ],
    )];
    let s = scenario(rules, vec![purchase("p1", "alice", 1_000, 5.0)]);
    assert_eq!(
        run(&s),
        vec![
            enter(1_000, "alice", "buyer"),
            enter(1_000, "alice", "recent_buyer"),
            exit(601_000, "alice", "recent_buyer"),
        ]
    );
}

#[test]
fn exclusive_spend_tiers_with_a_parent() {
    let window_sum = r#"sum("purchase", "amount", "1h")"#;
    let rules = vec![(
        0,
        vec![
            segment("payers", "false"),
            child_of(grouped(segment("whales", &format!("{window_sum} >= 100.0")), "tier", 40), "payers"),
            child_of(grouped(segment("dolphins", &format!("{window_sum} >= 20.0")), "tier", 30), "payers"),
            child_of(grouped(segment("minnows", r#"count("purchase", "1h") >= 1"#), "tier", 20), "payers"),
            grouped(segment("non_payers", r#"count("purchase", "1h") == 0"#), "tier", 10),
        ],
    )];
    let s = scenario(
        rules,
        vec![
            purchase("p1", "alice", MINUTE, 5.0),
            purchase("p2", "alice", 2 * MINUTE, 20.0),
            purchase("p3", "alice", 3 * MINUTE, 90.0),
        ],
    );
    assert_eq!(
        run(&s),
        sorted(vec![
            // $5: a minnow, so a payer.
            enter(MINUTE, "alice", "minnows"),
            enter(MINUTE, "alice", "payers"),
            // $25: a dolphin replaces the minnow at the same tick.
            exit(2 * MINUTE, "alice", "minnows"),
            enter(2 * MINUTE, "alice", "dolphins"),
            // $115: a whale replaces the dolphin.
            exit(3 * MINUTE, "alice", "dolphins"),
            enter(3 * MINUTE, "alice", "whales"),
            // The $5 leaves ($110): still a whale. The $20 leaves ($90): a dolphin again.
            enter(HOUR + 2 * MINUTE, "alice", "dolphins"),
            exit(HOUR + 2 * MINUTE, "alice", "whales"),
            // The $90 leaves: no purchase in the window.
            exit(HOUR + 3 * MINUTE, "alice", "dolphins"),
            enter(HOUR + 3 * MINUTE, "alice", "non_payers"),
            exit(HOUR + 3 * MINUTE, "alice", "payers"),
        ])
    );
}

const LAPSED: &str = r#"now() - last_seen("app_opened") > duration("1h")"#;

#[test]
fn a_now_rule_does_not_fire_by_the_clock_alone() {
    // The condition would be true from 1 h 0.1 s on, but with no further input it is
    // never re-evaluated.
    let s = scenario(vec![(0, vec![segment("lapsed", LAPSED)])], vec![opened("o1", "alice", 1_000)]);
    assert_eq!(run(&s), vec![]);
}

#[test]
fn a_now_rule_is_re_evaluated_at_any_event_of_the_user() {
    // The purchase changes nothing the condition reads except the time it is looked at;
    // the second app_opened changes last_seen.
    let s = scenario(
        vec![(0, vec![segment("lapsed", LAPSED)])],
        vec![
            opened("o1", "alice", 1_000),
            purchase("p1", "alice", 2 * HOUR, 1.0),
            opened("o2", "alice", 3 * HOUR),
        ],
    );
    assert_eq!(run(&s), vec![enter(2 * HOUR, "alice", "lapsed"), exit(3 * HOUR, "alice", "lapsed")]);
}

#[test]
fn a_now_rule_is_not_re_evaluated_by_unread_inputs() {
    // Neither the expiry of another segment's window (at 10 min 2 s) nor an update of a
    // profile field it does not read re-evaluates it; only the user's next event does.
    let rules = vec![(
        0,
        vec![segment("lapsed", LAPSED), segment("buyer", r#"count("purchase", "10m") >= 1"#)],
    )];
    let mut s = scenario(
        rules,
        vec![
            opened("o1", "alice", 1_000),
            purchase("p1", "alice", 2_000, 1.0),
            ad("a1", "alice", 3 * HOUR),
        ],
    );
    s.profiles = vec![(2 * HOUR, "alice".into(), gender("female"))];
    assert_eq!(
        run(&s),
        vec![
            enter(2_000, "alice", "buyer"),
            exit(2_000 + 10 * MINUTE, "alice", "buyer"),
            enter(3 * HOUR, "alice", "lapsed"),
        ]
    );
}

#[test]
fn undefined_input_is_an_error() {
    let bad_rule = scenario(vec![(0, vec![segment("broken", r#"count("nope", "1h") >= 1"#)])], vec![]);
    assert!(run_err(&bad_rule).contains("broken"), "{}", run_err(&bad_rule));
    let same_tick = scenario(vec![(100, vec![]), (100, vec![segment("opened", OPENED)])], vec![]);
    assert!(run_err(&same_tick).contains("same tick"));
    let misaligned = scenario(vec![(150, vec![])], vec![]);
    assert!(run_err(&misaligned).contains("multiple of the tick"));
    let mut misaligned_profile = scenario(vec![], vec![]);
    misaligned_profile.profiles = vec![(150, "alice".into(), None)];
    assert!(run_err(&misaligned_profile).contains("multiple of the tick"));
    let mut zero_tick = scenario(vec![], vec![]);
    zero_tick.config.tick_ms = 0;
    run_err(&zero_tick);
}

/// Rule 0 by hand. Partition 0 reads bob at 11:00, then alice's late a3 (own tick
/// 5:00): the partition's watermark is 10:59, so a3 applies at 10:59 with its true
/// time. Partition 1 reads alice's a2 at 4:00 on time. At 10:59 the 10-minute window
/// (0:59, 10:59] holds a2 and a3: alice enters; a2 leaves at 14:00, a3 at 15:00.
#[test]
fn a_late_event_applies_at_its_partitions_watermark_and_counts_in_an_open_window() {
    let mut s = scenario(vec![(0, vec![segment("pair", r#"count("ad_watched", "10m") >= 2"#)])], vec![]);
    s.arrivals = vec![
        vec![ad("b1", "bob", 11 * MINUTE), ad("a3", "alice", 5 * MINUTE)],
        vec![ad("a2", "alice", 4 * MINUTE)],
    ];
    assert_eq!(
        run(&s),
        vec![enter(11 * MINUTE - SECOND, "alice", "pair"), exit(14 * MINUTE, "alice", "pair")]
    );
}

#[test]
fn a_late_event_behind_a_closed_window_does_not_count_and_a_copy_counts_once() {
    let rules = vec![(0, vec![segment("pair", r#"count("ad_watched", "1m") >= 2"#)])];
    // The partition saw 10:00: a2 (own time 1:00) applies at 9:59, outside every
    // 1-minute window open from then on.
    let mut closed = scenario(rules.clone(), vec![]);
    closed.arrivals = vec![vec![ad("a1", "alice", 10 * MINUTE), ad("a2", "alice", MINUTE)]];
    assert_eq!(run(&closed), vec![]);
    // The same id read from two partitions counts once.
    let mut copies = scenario(rules, vec![]);
    copies.arrivals = vec![vec![ad("a1", "alice", 10 * MINUTE)], vec![ad("a1", "alice", 10 * MINUTE)]];
    assert_eq!(run(&copies), vec![]);
}

#[test]
fn an_event_further_behind_its_partition_than_the_dedup_horizon_is_dropped() {
    let mut s = scenario(vec![(0, vec![segment("seen", r#"count("ad_watched", "10h") >= 1"#)])], vec![]);
    s.config.dedup_horizon_ms = HOUR;
    s.arrivals = vec![vec![ad("b1", "bob", 3 * HOUR), ad("c1", "carol", MINUTE)]];
    let bob = [enter(3 * HOUR, "bob", "seen"), exit(13 * HOUR, "bob", "seen")];
    assert_eq!(run(&s), bob.to_vec(), "carol's event is sidelined; she is never known");
    s.arrivals[0][1].time = 2 * HOUR;
    assert_eq!(
        run(&s),
        sorted(
            [
                &bob[..],
                &[enter(3 * HOUR - SECOND, "carol", "seen"), exit(12 * HOUR, "carol", "seen")]
            ]
            .concat()
        ),
        "within the horizon it applies at the watermark, 2:59:59, and leaves 10 h after its true time"
    );
}
