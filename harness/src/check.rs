//! The exact correctness check: the changes observed for a sample of users against the
//! reference model (the brute-force oracle) run on what the classifier was given.
//!
//! Contract: [`check`] takes every input line the classifier read, by partition in
//! each partition's order (the embedded demo's tap, or the events topic; see
//! `arrivals.rs`), with the collector's `received_at` already in each line, decoded as
//! the classifier decodes them by an [`InputReader`] as they stream by: the sampled
//! users' events whole, everyone else's as their times alone. It recomputes the sampled
//! users' changes with [`expected_changes`] under the late-event rule (every line of a
//! partition, whoever it is for, raises that partition's watermark), with the users'
//! generated profile and stats and the rules in force from `start_tick`. No tolerance:
//! every observed (segment, tick, enter/exit) must equal the oracle's, users with late
//! events included. Changes after `until` are ignored on both sides. It also checks that
//! the input is whole: every event the harness sent for a sampled user and the system
//! acknowledged must be among the lines, or the difference names it as lost. Any
//! difference fails the run's verdict (see `segstream-harness`).

use std::collections::{BTreeMap, BTreeSet};

use segstream_dataflows::classifier::ClassifierConfig;
use segstream_model::event::decode::decode_event_line;
use segstream_model::event::{Event, Row};
use segstream_oracle::{expected_changes, Scenario};
use segstream_rules::{FieldSet, Schema, SegmentDef, UdfRegistry};
use serde_json::Value;

use crate::changes::Change;
use crate::whole::Delivery;

/// An event line as sent, with the `received_at` (ms) the collector stamped on its
/// batch if it said (then the line was acknowledged).
pub type SentLine = (String, Option<u64>);

/// What the harness knows of one sampled user.
#[derive(Clone, Debug, Default)]
pub struct SampledUser {
    /// (event line, the `received_at` ms stamped on it if any), in send order.
    pub sent: Vec<SentLine>,
    /// Whether any of its events was sent late (reported; such users are checked too).
    pub had_late_event: bool,
    /// The user's profile and stats records.
    pub profile: Option<Value>,
    /// The stats record.
    pub stats: Option<Value>,
}

/// The check's outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckResult {
    /// Users compared.
    pub users: usize,
    /// Of them, users with a late event.
    pub users_with_late_events: usize,
    /// Changes the oracle expects for them.
    pub expected: usize,
    /// Changes observed for them.
    pub observed: usize,
    /// Input lines replayed (all partitions).
    pub lines: usize,
    /// Sampled users' events acknowledged to the harness.
    pub acknowledged: usize,
    /// Of them, events that never reached the classifier.
    pub lost: usize,
    /// Differences, described (at most 20 kept).
    pub differences: Vec<String>,
    /// All differences.
    pub difference_count: usize,
    /// Every user's acknowledged events ([`CheckResult::with_delivery`]; 0 if not added).
    pub all_acknowledged: usize,
    /// Of them, events never read back from the classifier's input.
    pub all_lost: usize,
}

impl CheckResult {
    /// Whether nothing differed.
    pub fn passed(&self) -> bool {
        self.difference_count == 0
    }

    /// Adds the whole stream's delivery ([`Delivery`]): every acknowledged event, of
    /// every user, must be in the classifier's input; each lost one is a difference.
    pub fn with_delivery(mut self, delivery: &Delivery) -> CheckResult {
        let (lost, named) = delivery.lost(5);
        self.all_acknowledged = delivery.acknowledged_count();
        self.all_lost = lost;
        for id in named {
            self.differ(format!("acknowledged event {id} is not in the classifier's input"));
        }
        self.difference_count += lost.saturating_sub(5);
        self
    }

    fn differ(&mut self, description: String) {
        self.difference_count += 1;
        if self.differences.len() < 20 {
            self.differences.push(description);
        }
    }
}

/// The classifier's view of a line the collector received at `received_ms`.
fn with_received_at(line: &str, received_ms: Option<u64>) -> Option<String> {
    let Some(received_ms) = received_ms else {
        return Some(line.to_string());
    };
    let mut value: Value = serde_json::from_str(line).ok()?;
    value.as_object_mut()?.insert("received_at".into(), Value::from(received_ms));
    Some(value.to_string())
}

fn row(fields: &FieldSet, record: Option<&Value>) -> Result<Option<Row>, String> {
    record.map(|value| fields.read_json_value(value)).transpose()
}

/// An event that only moves its partition's watermark (not a sampled user's).
fn watermark_only(time: u64) -> Event {
    Event {
        time,
        id: String::new(),
        user: String::new(),
        event_type: 0,
        properties: Vec::new(),
        client_time: 0,
        sent_at: 0,
        received_at: 0,
    }
}

/// What the classifier read, decoded for the check.
#[derive(Debug, Default)]
pub struct Input {
    /// Events by partition, in order; other users' as their times alone.
    partitions: BTreeMap<u32, Vec<Event>>,
    /// (user, id) of every sampled user's event read.
    reached: BTreeSet<(String, String)>,
    /// Lines read.
    lines: usize,
}

/// Decodes lines as they stream by (see the module contract).
pub struct InputReader<'a> {
    schema: &'a Schema,
    sampled: BTreeSet<String>,
    future_tolerance_ms: u64,
    input: Input,
}

impl<'a> InputReader<'a> {
    /// A reader for the users of `sampled`.
    pub fn new(schema: &'a Schema, sampled: BTreeSet<String>, config: &ClassifierConfig) -> InputReader<'a> {
        InputReader {
            schema,
            sampled,
            future_tolerance_ms: config.future_tolerance_ms,
            input: Input::default(),
        }
    }

    /// Takes the next line of `partition` (a line the classifier rejects is skipped,
    /// as the classifier skips it).
    pub fn line(&mut self, partition: u32, line: &str) {
        self.input.lines += 1;
        let Ok(event) = decode_event_line(line, self.schema, self.future_tolerance_ms) else {
            return;
        };
        let event = if self.sampled.contains(&event.user) {
            self.input.reached.insert((event.user.clone(), event.id.clone()));
            event
        } else {
            watermark_only(event.time)
        };
        self.input.partitions.entry(partition).or_default().push(event);
    }

    /// What was read.
    pub fn finish(self) -> Input {
        self.input
    }
}

/// Per (segment): the (tick, entered) sequence.
type Sequences = BTreeMap<String, Vec<(u64, bool)>>;

fn sequences<'a>(changes: impl Iterator<Item = (&'a str, u64, bool)>, until: u64) -> Sequences {
    let mut by_segment = Sequences::new();
    for (segment, tick, entered) in changes.filter(|(_, tick, _)| *tick <= until) {
        by_segment.entry(segment.to_string()).or_default().push((tick, entered));
    }
    by_segment.values_mut().for_each(|s| s.sort_unstable());
    by_segment
}

/// Checks the sampled users (see the module contract).
#[allow(clippy::too_many_arguments)]
pub fn check(
    schema: &Schema,
    rules: &[SegmentDef],
    config: ClassifierConfig,
    users: &BTreeMap<String, SampledUser>,
    input: Input,
    observed: &BTreeMap<String, Vec<Change>>,
    start_tick: u64,
    until: u64,
) -> Result<CheckResult, String> {
    let udfs = UdfRegistry::new();
    let sampled: BTreeSet<String> = users.keys().cloned().collect();
    let Input {
        partitions,
        reached,
        lines,
    } = input;
    let mut scenario = Scenario {
        config,
        rules: vec![(start_tick, rules.to_vec())],
        arrivals: partitions.into_values().collect(),
        only_users: Some(sampled),
        ..Scenario::default()
    };
    for (user, sampled) in users {
        scenario
            .profiles
            .push((start_tick, user.clone(), row(&schema.profile, sampled.profile.as_ref())?));
        scenario
            .stats
            .push((start_tick, user.clone(), row(&schema.stats, sampled.stats.as_ref())?));
    }
    let mut expected_by_user: BTreeMap<String, Vec<(String, u64, bool)>> = BTreeMap::new();
    for change in expected_changes(schema, &udfs, &scenario)? {
        expected_by_user
            .entry(change.user.clone())
            .or_default()
            .push((change.segment.clone(), change.time, change.entered));
    }
    let mut result = CheckResult {
        lines,
        ..CheckResult::default()
    };
    for (user, sampled) in users {
        for (line, received) in sampled.sent.iter().filter(|(_, received)| received.is_some()) {
            let Some(event) =
                with_received_at(line, *received).and_then(|line| decode_event_line(&line, schema, config.future_tolerance_ms).ok())
            else {
                continue; // rejected by the collector: it never goes to the classifier
            };
            result.acknowledged += 1;
            if !reached.contains(&(event.user.clone(), event.id.clone())) {
                result.lost += 1;
                result.differ(format!("{user}: acknowledged event {} never reached the classifier", event.id));
            }
        }
        let want = expected_by_user.get(user).map_or(&[][..], Vec::as_slice);
        let expected = sequences(want.iter().map(|(s, t, e)| (s.as_str(), *t, *e)), until);
        let seen = observed.get(user).map_or(&[][..], Vec::as_slice);
        let seen = sequences(seen.iter().map(|c| (c.segment.as_str(), c.tick_ms, c.entered)), until);
        result.users += 1;
        result.users_with_late_events += usize::from(sampled.had_late_event);
        result.expected += expected.values().map(Vec::len).sum::<usize>();
        result.observed += seen.values().map(Vec::len).sum::<usize>();
        let segments: BTreeSet<&String> = expected.keys().chain(seen.keys()).collect();
        for segment in segments {
            let (want, got) = (
                expected.get(segment).map_or(&[][..], Vec::as_slice),
                seen.get(segment).map_or(&[][..], Vec::as_slice),
            );
            if want != got {
                result.differ(format!("{user} {segment}: expected {want:?}, observed {got:?}"));
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream_rules::{load_rule_files, Limits, SourceText};

    fn setup() -> (Schema, Vec<SegmentDef>) {
        let schema = Schema::from_toml("[events.ad_watched]\n[profile]\ngender = \"string\"\n[stats]\n").unwrap();
        let rules = "[[segment]]\nid = \"watchers\"\nname = \"W\"\nwhen = 'count(\"ad_watched\", \"1h\") >= 2'\n";
        let source = SourceText {
            name: "r.toml".into(),
            text: rules.into(),
        };
        let (_, defs) = load_rule_files(&[source], &schema, &UdfRegistry::new(), Limits::default()).unwrap();
        (schema, defs)
    }

    fn line(id: &str, user: &str, time: u64) -> String {
        format!(r#"{{"id":"{id}","user":"{user}","type":"ad_watched","time":{time},"received_at":{time}}}"#)
    }

    /// A sampled user "u" who sent (and had acknowledged) events at `times`.
    fn sampled(times: &[u64]) -> BTreeMap<String, SampledUser> {
        let sent = times
            .iter()
            .enumerate()
            .map(|(i, t)| (line(&format!("e{i}"), "u", *t), Some(*t)))
            .collect();
        BTreeMap::from([(
            "u".to_string(),
            SampledUser {
                sent,
                ..SampledUser::default()
            },
        )])
    }

    fn change(tick: u64, entered: bool) -> Change {
        Change {
            user: "u".into(),
            segment: "watchers".into(),
            tick_ms: tick,
            entered,
        }
    }

    /// Lines by partition, each in its partition's order.
    type Arrivals = BTreeMap<u32, Vec<String>>;

    fn judge(users: &BTreeMap<String, SampledUser>, arrivals: &Arrivals, observed: Vec<Change>) -> CheckResult {
        let (schema, rules) = setup();
        let observed = BTreeMap::from([("u".to_string(), observed)]);
        let mut reader = InputReader::new(&schema, users.keys().cloned().collect(), &ClassifierConfig::default());
        for (partition, lines) in arrivals {
            lines.iter().for_each(|line| reader.line(*partition, line));
        }
        let arrivals = reader.finish();
        check(
            &schema,
            &rules,
            ClassifierConfig::default(),
            users,
            arrivals,
            &observed,
            0,
            2_000_000,
        )
        .unwrap()
    }

    #[test]
    fn what_the_oracle_expects_passes_and_a_lost_doubled_or_shifted_change_fails() {
        let users = sampled(&[1_000_000, 1_000_500]);
        let arrivals = Arrivals::from([(0, vec![line("e0", "u", 1_000_000), line("e1", "u", 1_000_500)])]);
        let good = judge(&users, &arrivals, vec![change(1_000_500, true)]);
        assert!(good.passed(), "{good:?}");
        assert_eq!((good.users, good.expected, good.observed, good.lines), (1, 1, 1, 2));
        assert!(
            !judge(&users, &arrivals, vec![change(1_000_600, true)]).passed(),
            "no tolerance: one tick off fails"
        );
        assert!(!judge(&users, &arrivals, vec![]).passed(), "lost");
        assert!(
            !judge(&users, &arrivals, vec![change(1_000_500, true), change(1_000_500, true)]).passed(),
            "doubled"
        );
    }

    #[test]
    fn a_late_event_is_judged_by_its_partition_including_other_users_lines() {
        // u's second event arrives after another user's event 10 s later: the partition's
        // watermark (10 s minus the 1 s bound) is past it, so it applies there, late.
        let users = sampled(&[1_000_000, 1_000_500]);
        let arrivals = Arrivals::from([(
            0,
            vec![
                line("e0", "u", 1_000_000),
                line("x", "other", 1_010_000),
                line("e1", "u", 1_000_500),
            ],
        )]);
        let late = judge(&users, &arrivals, vec![change(1_009_000, true)]);
        assert!(late.passed(), "{late:?}");
        assert!(
            !judge(&users, &arrivals, vec![change(1_000_500, true)]).passed(),
            "at its own tick is wrong here"
        );
        // In another partition the other user's event does not hold it back.
        let apart = Arrivals::from([
            (0, vec![line("e0", "u", 1_000_000), line("e1", "u", 1_000_500)]),
            (1, vec![line("x", "other", 1_010_000)]),
        ]);
        assert!(judge(&users, &apart, vec![change(1_000_500, true)]).passed());
    }

    #[test]
    fn an_acknowledged_event_missing_from_the_input_is_named() {
        let users = sampled(&[1_000_000, 1_000_500]);
        let arrivals = Arrivals::from([(0, vec![line("e0", "u", 1_000_000)])]);
        let lost = judge(&users, &arrivals, vec![]);
        assert!(!lost.passed());
        assert!(
            lost.differences[0].contains("acknowledged event e1 never reached the classifier"),
            "{lost:?}"
        );
    }
}
