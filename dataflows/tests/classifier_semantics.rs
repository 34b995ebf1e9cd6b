//! Named behaviours of the classifier, through the timely dataflow: late events, window
//! expiry by watermark, live rule edits, and bad input.

mod classifier_common;

use std::sync::Arc;

use classifier_common::*;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::source::SourceRecord;
use segstream_dataflows::classifier::{ClassifierConfig, MembershipChange};
use segstream_model::event::decode::decode_event_line;
use segstream_oracle::Scenario;
use segstream_rules::FieldValue;

/// Runs one partition of records in the given arrival order; returns changes and metrics.
fn run_in_order(
    rules: Vec<segstream_rules::SegmentDef>,
    config: ClassifierConfig,
    records: Vec<SourceRecord>,
) -> (Vec<MembershipChange>, Arc<ClassifierMetrics>) {
    let scenario = Scenario {
        config,
        rules: vec![(0, rules)],
        ..Scenario::default()
    };
    let shared = shared(schema(), config, 1);
    let metrics = Arc::clone(&shared.metrics);
    let changes = run_dataflow_with(shared, &scenario, vec![records], 1).unwrap_or_else(|e| panic!("{e}"));
    (changes, metrics)
}

fn watched(id: &str, user: &str, time: u64) -> SourceRecord {
    SourceRecord::Event(event(
        &schema(),
        id,
        user,
        "ad_watched",
        time,
        &[("network", FieldValue::Str("unity".into()))],
    ))
}

fn opened(id: &str, user: &str, time: u64) -> SourceRecord {
    SourceRecord::Event(event(
        &schema(),
        id,
        user,
        "app_opened",
        time,
        &[("os", FieldValue::Str("iOS".into()))],
    ))
}

fn late_config() -> ClassifierConfig {
    ClassifierConfig {
        tick_ms: 100,
        max_out_of_order_ms: 1_000,
        dedup_horizon_ms: 600_000,
        ..ClassifierConfig::default()
    }
}

#[test]
fn a_late_event_whose_window_is_open_counts_at_its_true_time() {
    // The watermark reaches 19 s before the 15 s event arrives: it is applied at 19 s,
    // and leaves the 1-minute window at 15 s + 1 min, its true time.
    let rules = vec![segment("any_watch", r#"count("ad_watched", "1m") >= 1"#)];
    let (changes, metrics) = run_in_order(
        rules,
        late_config(),
        vec![opened("o1", "bob", 20_000), watched("w1", "ann", 15_000)],
    );
    assert_eq!(changes, vec![enter(19_000, "ann", "any_watch"), exit(75_000, "ann", "any_watch")]);
    assert_eq!(ClassifierMetrics::get(&metrics.late), 1);
}

#[test]
fn a_late_event_whose_window_has_closed_has_no_effect_on_it() {
    let rules = vec![
        segment("any_watch", r#"count("ad_watched", "1m") >= 1"#),
        segment("ever_watched", r#"has(last("ad_watched").network)"#),
    ];
    let (changes, metrics) = run_in_order(
        rules,
        late_config(),
        vec![opened("o1", "bob", 80_000), watched("w1", "ann", 15_000)],
    );
    // Applied at 79 s: outside every 1-minute window, but it still is the user's last ad.
    assert_eq!(changes, vec![enter(79_000, "ann", "ever_watched")]);
    assert_eq!(ClassifierMetrics::get(&metrics.late), 1);
}

#[test]
fn an_event_older_than_the_dedup_horizon_is_sidelined_and_counted() {
    let rules = vec![segment("ever_watched", r#"has(last("ad_watched").network)"#)];
    let (changes, metrics) = run_in_order(
        rules,
        late_config(),
        vec![opened("o1", "bob", 700_000), watched("w1", "ann", 15_000)],
    );
    assert_eq!(changes, vec![]);
    assert_eq!(ClassifierMetrics::get(&metrics.sidelined), 1);
    assert_eq!(ClassifierMetrics::get(&metrics.late), 0);
}

#[test]
fn a_window_expires_on_time_when_the_user_sends_nothing() {
    // ann watches three ads and stops; bob keeps the watermark moving. ann leaves the
    // segment exactly when her first ad leaves the 10-minute window.
    let rules = vec![segment("fatigued", r#"count("ad_watched", "10m") >= 3"#)];
    let mut records = vec![
        watched("a1", "ann", 1_000),
        watched("a2", "ann", 2_000),
        watched("a3", "ann", 3_050),
    ];
    records.extend((1..=15).map(|m| opened(&format!("b{m}"), "bob", m * 60_000)));
    let (changes, _) = run_in_order(rules, late_config(), records);
    assert_eq!(changes, vec![enter(3_000, "ann", "fatigued"), exit(601_000, "ann", "fatigued")]);
}

#[test]
fn duplicates_are_applied_once() {
    let rules = vec![segment("twice", r#"count("ad_watched", "10m") >= 2"#)];
    let (changes, metrics) = run_in_order(
        rules,
        late_config(),
        vec![
            watched("a1", "ann", 1_000),
            watched("a1", "ann", 1_000),
            watched("a1", "ann", 1_500),
        ],
    );
    assert_eq!(changes, vec![]);
    assert_eq!(ClassifierMetrics::get(&metrics.duplicates), 2);
}

#[test]
fn an_edited_rule_gives_the_memberships_of_a_fresh_run_from_the_edit_on() {
    // Dynamic rules that do not read now(): after the edit, membership is what a run
    // that always had the new rules would have, at every tick.
    let dynamic: Vec<_> = base_rules()
        .into_iter()
        .filter(|d| !["veteran", "recent_open"].contains(&d.id.as_str()))
        .collect();
    let edited: Vec<_> = edited_rules()
        .into_iter()
        .filter(|d| !["veteran", "recent_open"].contains(&d.id.as_str()))
        .collect();
    let s = schema();
    let mut records = Vec::new();
    for i in 0..120u64 {
        let user = ["ann", "bob", "cy"][(i % 3) as usize];
        let time = i * 7_300;
        let record = match i % 5 {
            0 => event(
                &s,
                &format!("e{i}"),
                user,
                "ad_watched",
                time,
                &[
                    ("network", FieldValue::Str(["unity", "meta"][(i % 2) as usize].into())),
                    ("duration_s", FieldValue::Double(20.0)),
                ],
            ),
            1 => event(
                &s,
                &format!("e{i}"),
                user,
                "purchase",
                time,
                &[("amount", FieldValue::Double(4.99)), ("qty", FieldValue::Int((i % 4) as i64))],
            ),
            2 => event(&s, &format!("e{i}"), user, "ad_shown", time, &[]),
            3 => event(
                &s,
                &format!("e{i}"),
                user,
                "ad_clicked",
                time,
                &[("network", FieldValue::Str("unity".into()))],
            ),
            _ => event(
                &s,
                &format!("e{i}"),
                user,
                "app_opened",
                time,
                &[("os", FieldValue::Str("iOS".into()))],
            ),
        };
        records.push(SourceRecord::Event(record));
    }
    let edit_at = 400_000;
    let run = |rules: Vec<(u64, Vec<segstream_rules::SegmentDef>)>| {
        let scenario = Scenario {
            config: config(),
            rules,
            ..Scenario::default()
        };
        run_dataflow(&scenario, vec![records.clone()], 2, 7).unwrap_or_else(|e| panic!("{e}"))
    };
    let edited_live = run(vec![(0, dynamic), (edit_at, edited.clone())]);
    let fresh = run(vec![(0, edited)]);
    let last = fresh.iter().chain(&edited_live).map(|c| c.time).max().unwrap_or(0);
    let mut checked = 0;
    for tick in (edit_at..=last + 100).step_by(100) {
        assert_eq!(members_at(&edited_live, tick), members_at(&fresh, tick), "at {tick}");
        checked += 1;
    }
    assert!(checked > 1000 && !fresh.is_empty());
}

#[test]
fn bad_events_are_rejected_with_a_reason_and_the_rest_is_processed() {
    let s = schema();
    let cases = [
        (r#"{"user": "u", "type": "ad_shown", "time": 1000}"#, "missing \"id\""),
        (r#"{"id": "", "user": "u", "type": "ad_shown", "time": 1000}"#, "\"id\" is empty"),
        (r#"{"id": "e", "type": "ad_shown", "time": 1000}"#, "missing \"user\""),
        (
            r#"{"id": "e", "user": "u", "type": "ad_shown", "time": -5}"#,
            "\"time\" is out of range",
        ),
        (
            r#"{"id": "e", "user": "u", "type": "ad_shown", "time": "3000-01-01T00:00:00Z"}"#,
            "\"time\" is out of range",
        ),
        (
            r#"{"id": "e", "user": "u", "type": "ad_shown", "time": "yesterday"}"#,
            "\"time\": invalid timestamp",
        ),
        (
            r#"{"id": "e", "user": "u", "type": "ad_teleported", "time": 1000}"#,
            "unknown event type \"ad_teleported\"",
        ),
        (
            r#"{"id": "e", "user": "u", "type": "purchase", "time": 1000, "properties": {"amount": "lots"}}"#,
            "property \"amount\": expected double, found a string",
        ),
        (
            r#"{"id": "e", "user": "u", "type": "purchase", "time": 1000, "properties": {"qty": 1.5}}"#,
            "property \"qty\": expected int",
        ),
        (r#"[1, 2]"#, "an event must be a JSON object"),
        (r#"{"id": "e", "user": "#, "malformed JSON at column"),
    ];
    for (line, reason) in cases {
        match decode_event_line(line, &s, 60_000) {
            Ok(e) => panic!("{line} decoded to {e:?}"),
            Err(e) => assert!(e.reason.contains(reason), "{line}: {} does not contain {reason}", e.reason),
        }
    }
    let long_user = format!(
        r#"{{"id": "e", "user": "{}", "type": "ad_shown", "time": 1000}}"#,
        "u".repeat(10_000)
    );
    assert!(decode_event_line(&long_user, &s, 60_000).is_err_and(|e| e.reason.contains("10000 bytes long; the limit is 256")));
    let unknown_property = decode_event_line(
        r#"{"id": "e", "user": "u", "type": "ad_shown", "time": 1000, "properties": {"new_field": 1}}"#,
        &s,
        60_000,
    );
    assert!(unknown_property.is_ok(), "unknown properties are ignored");

    let rules = vec![segment("any_watch", r#"count("ad_watched", "1m") >= 1"#)];
    let records = vec![
        SourceRecord::Rejected("missing \"id\"".into()),
        watched("w1", "ann", 1_000),
        SourceRecord::Rejected("bad".into()),
    ];
    let (changes, metrics) = run_in_order(rules, late_config(), records);
    assert_eq!(changes, vec![enter(1_000, "ann", "any_watch"), exit(61_000, "ann", "any_watch")]);
    assert_eq!(ClassifierMetrics::get(&metrics.rejected), 2);
}

#[test]
fn clock_skew_is_corrected_before_the_event_reaches_the_classifier() {
    // The device clock is an hour fast; sent_at and received_at reveal it.
    let line = r#"{"id": "e", "user": "u", "type": "ad_shown", "time": "2026-11-26T11:00:00Z", "sent_at": "2026-11-26T11:00:05Z", "received_at": "2026-11-26T10:00:06Z"}"#;
    let event = decode_event_line(line, &schema(), 60_000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(segstream_time::format_timestamp(event.time as i64), "2026-11-26T10:00:01.000Z");
}
