//! The correctness check: the changes observed for a sample of users against the
//! classifier's reference (the brute-force oracle), recomputed from what was sent.
//!
//! Contract: [`check`] takes, for each sampled user, the event lines the harness sent,
//! each with the `received_at` the collector stamped on its batch and named in its
//! reply (or the line's own, when nothing stamped it, as on the direct Kafka path), and
//! the changes observed. It recomputes the user's changes with [`expected_changes`]
//! from those events, the user's generated profile and stats, and the rules, all in
//! force from `start_tick` (the deployment's start). Users with a late event are left
//! out: a late event applies at its partition's watermark, which depends on the order
//! of the partition's log, and the harness does not see that order. Changes after
//! `until` are ignored on both sides. For every (user, segment) the sequence of enters
//! and exits must be equal and each observed tick within `tolerance_ms` of the
//! oracle's (the collector's stamp and its log order can disagree by a scheduling
//! delay). Anything lost or doubled shows as a difference.

use std::collections::BTreeMap;

use segstream_dataflows::classifier::ClassifierConfig;
use segstream_model::event::decode::decode_event_line;
use segstream_model::event::Row;
use segstream_oracle::{expected_changes, Scenario};
use segstream_rules::{FieldSet, Schema, SegmentDef, UdfRegistry};
use serde_json::Value;

use crate::changes::Change;

/// An event line as sent, with the `received_at` (ms) stamped on it if anything did.
pub type SentLine = (String, Option<u64>);

/// What the harness knows of one sampled user.
#[derive(Clone, Debug, Default)]
pub struct SampledUser {
    /// (event line, the `received_at` ms stamped on it if any), in send order.
    pub sent: Vec<SentLine>,
    /// Whether any of its events was late (then it is not checked).
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
    /// Changes the oracle expects for them.
    pub expected: usize,
    /// Changes observed for them.
    pub observed: usize,
    /// Differences, described (at most 20 kept).
    pub differences: Vec<String>,
    /// All differences.
    pub difference_count: usize,
}

impl CheckResult {
    /// Whether nothing differed.
    pub fn passed(&self) -> bool {
        self.difference_count == 0
    }
}

/// The classifier's view of a line the collector received at `received_ms` (the line
/// as it is when nothing stamped it).
fn with_received_at(line: &str, received_ms: Option<u64>) -> Option<String> {
    let Some(received_ms) = received_ms else {
        return Some(line.to_string());
    };
    let mut value: Value = serde_json::from_str(line).ok()?;
    value.as_object_mut()?.insert("received_at".into(), Value::from(received_ms));
    Some(value.to_string())
}

fn row(fields: &FieldSet, record: Option<&Value>) -> Result<Option<Row>, String> {
    match record {
        Some(Value::Object(map)) => fields.read_json(map).map(Some),
        Some(_) => Err("a profile or stats record must be an object".into()),
        None => Ok(None),
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
    observed: &BTreeMap<String, Vec<Change>>,
    start_tick: u64,
    until: u64,
    tolerance_ms: u64,
) -> Result<CheckResult, String> {
    let udfs = UdfRegistry::new();
    let mut result = CheckResult::default();
    for (user, sampled) in users.iter().filter(|(_, s)| !s.had_late_event) {
        let events = sampled
            .sent
            .iter()
            .filter_map(|(line, received)| with_received_at(line, *received))
            .filter_map(|line| decode_event_line(&line, schema, config.future_tolerance_ms).ok())
            .collect();
        let scenario = Scenario {
            config,
            rules: vec![(start_tick, rules.to_vec())],
            profiles: vec![(start_tick, user.clone(), row(&schema.profile, sampled.profile.as_ref())?)],
            stats: vec![(start_tick, user.clone(), row(&schema.stats, sampled.stats.as_ref())?)],
            events,
            arrivals: Vec::new(),
        };
        let expected = expected_changes(schema, &udfs, &scenario)?;
        let expected = sequences(expected.iter().map(|c| (c.segment.as_str(), c.time, c.entered)), until);
        let seen = observed.get(user).map_or(&[][..], Vec::as_slice);
        let seen = sequences(seen.iter().map(|c| (c.segment.as_str(), c.tick_ms, c.entered)), until);
        result.users += 1;
        result.expected += expected.values().map(Vec::len).sum::<usize>();
        result.observed += seen.values().map(Vec::len).sum::<usize>();
        let segments: std::collections::BTreeSet<&String> = expected.keys().chain(seen.keys()).collect();
        for segment in segments {
            let (want, got) = (
                expected.get(segment).map_or(&[][..], Vec::as_slice),
                seen.get(segment).map_or(&[][..], Vec::as_slice),
            );
            let same = want.len() == got.len()
                && want
                    .iter()
                    .zip(got)
                    .all(|((wt, we), (gt, ge))| we == ge && wt.abs_diff(*gt) <= tolerance_ms);
            if !same {
                result.difference_count += 1;
                if result.differences.len() < 20 {
                    result
                        .differences
                        .push(format!("{user} {segment}: expected {want:?}, observed {got:?}"));
                }
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

    fn user(events: &[u64]) -> SampledUser {
        SampledUser {
            sent: events
                .iter()
                .enumerate()
                .map(|(i, t)| (format!(r#"{{"id":"e{i}","user":"u","type":"ad_watched","time":{t}}}"#), Some(*t)))
                .collect(),
            ..SampledUser::default()
        }
    }

    fn change(tick: u64, entered: bool) -> Change {
        Change {
            user: "u".into(),
            segment: "watchers".into(),
            tick_ms: tick,
            entered,
        }
    }

    #[test]
    fn what_the_oracle_expects_passes_and_a_lost_or_doubled_change_fails() {
        let (schema, rules) = setup();
        let users = BTreeMap::from([("u".to_string(), user(&[1_000_000, 1_000_500]))]);
        let run = |observed: Vec<Change>| {
            let observed = BTreeMap::from([("u".to_string(), observed)]);
            check(&schema, &rules, ClassifierConfig::default(), &users, &observed, 0, 2_000_000, 500).unwrap()
        };
        let good = run(vec![change(1_000_500, true)]);
        assert!(good.passed(), "{good:?}");
        assert_eq!((good.users, good.expected, good.observed), (1, 1, 1));
        assert!(run(vec![change(1_000_800, true)]).passed(), "within the tolerance");
        assert!(!run(vec![]).passed(), "lost");
        assert!(!run(vec![change(1_000_500, true), change(1_000_500, true)]).passed(), "doubled");
        assert!(!run(vec![change(1_900_000, true)]).passed(), "far too late");
        let late = BTreeMap::from([(
            "u".to_string(),
            SampledUser {
                had_late_event: true,
                ..user(&[1])
            },
        )]);
        let skipped = check(&schema, &rules, ClassifierConfig::default(), &late, &BTreeMap::new(), 0, 10, 500).unwrap();
        assert_eq!(skipped.users, 0);
    }
}
