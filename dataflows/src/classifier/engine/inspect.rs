//! One user as the engine holds them, for the console's user lookup.
//!
//! Contract: [`Engine::inspect`] reports a user at the last tick processed, without
//! changing anything: for every segment in force (a dry run's shadows are not shown),
//! the user's membership, the
//! condition's last result, and each input the condition reads with the value it reads
//! now (a [`UserReport`]). A user held in full is read from its state; a dormant one
//! from its record (windowed features are empty by construction, rows from `side`); a
//! user with only a profile or stats row reads as never a member. `None` when this
//! worker knows nothing of the user (another worker may hold them).

use segstream_model::user_report::{Reading, SegmentReading, UserReport};
use smallbitvec::SmallBitVec;

use super::*;

/// Which state a report reads.
enum Held<'a> {
    Active(&'a UserState),
    Dormant(&'a eviction::Dormant, (Option<PackedRow>, Option<PackedRow>)),
    Rows((Option<PackedRow>, Option<PackedRow>)),
}

impl Engine {
    /// The user's report on worker `worker` (see the module contract).
    pub fn inspect(&self, user: &str, worker: usize, side: &mut dyn SideRows) -> Option<UserReport> {
        // Rows with upserts up to and including the last tick.
        let after_last = self.last_tick.map_or(0, |t| t + 1);
        let held = match (self.users.get(user), self.dormant.get(user)) {
            (Some(state), _) => Held::Active(state),
            (None, Some(record)) => Held::Dormant(record, side.rows_before(user, after_last)),
            (None, None) => match side.rows_before(user, after_last) {
                (None, None) => return None,
                rows => Held::Rows(rows),
            },
        };
        let no_features = FeatureSlots::default();
        let (kind, profile, stats, features, raw, member) = match &held {
            Held::Active(s) => ("active", &s.profile, &s.stats, &s.features, Some(&s.raw), Some(&s.member)),
            Held::Dormant(r, (p, st)) => ("dormant", p, st, &no_features, Some(&r.raw), Some(&r.member)),
            Held::Rows((p, st)) => ("rows", p, st, &no_features, None, None),
        };
        let bit = |bits: Option<&SmallBitVec>, i: usize| bits.and_then(|b| b.get(i)).unwrap_or(false);
        let field = |row: &Option<PackedRow>, slot: usize| {
            row.as_ref()
                .and_then(|r| r.get(slot))
                .map_or(serde_json::Value::Null, |v| v.to_json())
        };
        let now = self.last_tick.unwrap_or(0);
        let segments = self
            .rules
            .set
            .segments()
            .iter()
            .enumerate()
            .filter(|(_, segment)| !crate::classifier::is_shadow(&segment.def.id))
            .map(|(i, segment)| {
                let specs = self.rules.set.features();
                let features = segment.reads.features.iter().map(|&slot| Reading {
                    input: specs[slot].describe(&self.schema),
                    value: feature_value(features, &self.rules, slot).map_or(serde_json::Value::Null, |v| v.to_json()),
                });
                let profile = segment.reads.profile.iter().map(|&slot| Reading {
                    input: format!("profile.{}", self.schema.profile.names().nth(slot).unwrap_or("?")),
                    value: field(profile, slot),
                });
                let stats = segment.reads.stats.iter().map(|&slot| Reading {
                    input: format!("stats.{}", self.schema.stats.names().nth(slot).unwrap_or("?")),
                    value: field(stats, slot),
                });
                let clock = segment.reads.now.then(|| Reading {
                    input: "now()".into(),
                    value: FieldValue::Timestamp(now as i64).to_json(),
                });
                SegmentReading {
                    segment: segment.def.id.clone(),
                    member: bit(member, i),
                    condition: bit(raw, i),
                    reads: features.chain(profile).chain(stats).chain(clock).collect(),
                }
            })
            .collect();
        Some(UserReport {
            user: user.to_string(),
            as_of_ms: now,
            worker,
            held: kind.into(),
            segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::engine::test_support::{engine, rule, watched};
    use crate::classifier::side_rows::NoSideRows;
    use segstream_rules::SegmentKind;

    #[test]
    fn a_report_names_membership_and_the_values_each_condition_reads() {
        let mut engine = engine(ClassifierConfig::default());
        let rules = vec![
            rule("busy", SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 2"#),
            rule("seen", SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 1"#),
        ];
        let mut out = Vec::new();
        engine.process_tick(0, rules, Vec::new(), &mut NoSideRows, &mut out);
        engine.process_tick(1_000, Vec::new(), vec![watched("ann", "a1", 1_000)], &mut NoSideRows, &mut out);
        let report = engine.inspect("ann", 3, &mut NoSideRows).unwrap_or_else(|| panic!("ann is held"));
        assert_eq!((report.as_of_ms, report.worker, report.held.as_str()), (1_000, 3, "active"));
        assert_eq!(report.member_of(), vec!["seen"]);
        let busy = &report.segments[0];
        assert_eq!((busy.segment.as_str(), busy.member, busy.condition), ("busy", false, false));
        assert_eq!(
            busy.reads,
            vec![Reading {
                input: r#"count("ad_watched", "1m")"#.into(),
                value: serde_json::json!(1)
            }]
        );
        assert_eq!(engine.inspect("bob", 0, &mut NoSideRows), None, "never seen");
    }

    #[test]
    fn a_dry_runs_shadows_are_not_shown() {
        let mut engine = engine(ClassifierConfig::default());
        let shadow_id = format!("{}1_draft", crate::classifier::SHADOW_PREFIX);
        let rules = vec![
            rule("seen", SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 1"#),
            rule(&shadow_id, SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 1"#),
        ];
        let mut out = Vec::new();
        engine.process_tick(0, rules, vec![watched("ann", "a1", 0)], &mut NoSideRows, &mut out);
        assert_eq!(out.len(), 2, "the shadow is evaluated like any segment");
        let report = engine.inspect("ann", 0, &mut NoSideRows).unwrap_or_else(|| panic!("ann is held"));
        assert_eq!(report.member_of(), vec!["seen"]);
        assert_eq!(report.segments.len(), 1);
    }

    #[test]
    fn a_dormant_user_reports_its_kept_membership_and_empty_windows() {
        let mut engine = engine(ClassifierConfig {
            user_ttl_ms: 10_000,
            ..ClassifierConfig::default()
        });
        let mut out = Vec::new();
        let ever = rule("ever", SegmentKind::Sticky, r#"count("ad_watched", "1m") >= 1"#);
        engine.process_tick(0, vec![ever], Vec::new(), &mut NoSideRows, &mut out);
        engine.process_tick(1_000, Vec::new(), vec![watched("fan", "f1", 1_000)], &mut NoSideRows, &mut out);
        engine.process_tick(61_000, Vec::new(), Vec::new(), &mut NoSideRows, &mut out);
        engine.process_tick(80_000, Vec::new(), vec![watched("other", "o1", 80_000)], &mut NoSideRows, &mut out);
        assert_eq!(engine.dormant_count(), 1, "fan was evicted, keeping its sticky membership");
        let report = engine
            .inspect("fan", 0, &mut NoSideRows)
            .unwrap_or_else(|| panic!("fan is dormant"));
        assert_eq!((report.held.as_str(), report.member_of()), ("dormant", vec!["ever"]));
        assert_eq!(report.segments[0].reads[0].value, serde_json::json!(0), "the window is empty");
        assert_eq!(engine.dormant_count(), 1, "inspecting wakes nobody");
    }
}
