//! Random classifier cases shared by the determinism and checkpoint tests: events of
//! five users over 15 minutes (some duplicated, some late), profile and stats upserts,
//! a rule edit, spread over partitions.

use proptest::prelude::*;
use segstream_dataflows::classifier::source::SourceRecord;
use segstream_model::event::Event;
use segstream_oracle::Scenario;
use segstream_rules::FieldValue;

use super::*;

pub const USERS: [&str; 5] = ["ann", "bob", "cy", "dee", "eve"];

/// Event `n` of `user`: one of the five event types by `kind`, its properties by `pick`.
pub fn generated_event(schema: &segstream_rules::Schema, n: usize, user: &str, kind: usize, time: u64, pick: usize) -> Event {
    let id = format!("e{n}");
    let networks = ["unity", "admob", "meta"];
    let amounts = [0.5, 1.5, 4.99, 9.99, 20.0];
    match kind % 5 {
        0 => event(
            schema,
            &id,
            user,
            "ad_watched",
            time,
            &[
                ("network", FieldValue::Str(networks[pick % 3].into())),
                ("duration_s", FieldValue::Double([5.0, 15.0, 30.0][pick % 3])),
            ],
        ),
        1 => event(schema, &id, user, "ad_shown", time, &[]),
        2 => event(
            schema,
            &id,
            user,
            "ad_clicked",
            time,
            &[("network", FieldValue::Str(networks[pick % 3].into()))],
        ),
        3 => event(
            schema,
            &id,
            user,
            "purchase",
            time,
            &[
                ("amount", FieldValue::Double(amounts[pick % 5])),
                ("qty", FieldValue::Int((pick % 6) as i64)),
            ],
        ),
        _ => event(
            schema,
            &id,
            user,
            "app_opened",
            time,
            &[("os", FieldValue::Str(["iOS", "Android"][pick % 2].into()))],
        ),
    }
}

#[derive(Debug, Clone)]
pub struct Case {
    pub scenario: Scenario,
    /// Each record with its arrival key and partition.
    pub arrivals: Vec<(u64, usize, Event)>,
}

/// How far behind the out-of-order bound a late event may arrive.
pub const LATENESS: u64 = 150_000;
/// The dedup horizon of the late cases: below `LATENESS`, so some late events are sidelined.
pub const LATE_HORIZON: u64 = 90_000;

/// Random inputs; with `late`, a fifth of the events arrive up to [`LATENESS`] late.
pub fn case(late: bool) -> impl Strategy<Value = Case> {
    let delay = proptest::option::weighted(0.2, 1_000u64..LATENESS);
    let events = proptest::collection::vec(
        (
            0usize..5,
            0usize..5,
            0u64..900_000,
            0usize..30,
            (0u64..1_000, delay),
            proptest::option::weighted(0.15, 0u64..1_000),
        ),
        0..50,
    );
    let profiles = proptest::collection::vec((0usize..5, 0u64..9_000, proptest::option::weighted(0.8, proptest::bool::ANY)), 0..6);
    let stats = proptest::collection::vec(
        (
            0usize..5,
            0u64..9_000,
            proptest::option::weighted(0.8, (proptest::bool::ANY, 0usize..3)),
        ),
        0..6,
    );
    let edit_at = proptest::option::weighted(0.5, 1u64..9_000);
    (events, profiles, stats, edit_at, 1usize..5).prop_map(move |(events, profiles, stats, edit_at, partitions)| {
        let schema = schema();
        let mut arrivals = Vec::new();
        let mut all = Vec::new();
        for (n, (user, kind, time, pick, (jitter, delay), duplicate)) in events.into_iter().enumerate() {
            let e = generated_event(&schema, n, USERS[user % USERS.len()], kind, time, pick);
            let partition = (n * 7 + user) % partitions;
            let delay = if late { delay.unwrap_or(0) } else { 0 };
            arrivals.push((time + jitter + delay, partition, e.clone()));
            if let Some(dup_jitter) = duplicate {
                arrivals.push((time + dup_jitter, (partition + 1) % partitions, e.clone()));
            }
            all.push(e);
        }
        // Arrival order: by time plus a jitter below the out-of-order bound (1 s), plus a
        // delay for late events.
        arrivals.sort_by_key(|(key, _, e)| (*key, e.id.clone()));
        let row = |fields: Vec<Option<FieldValue>>| Some(fields);
        let profiles = profiles
            .into_iter()
            .map(|(user, at, gender)| {
                (
                    at * 100,
                    USERS[user].to_string(),
                    gender.and_then(|female| row(vec![None, Some(FieldValue::Str(if female { "female" } else { "male" }.into()))])),
                )
            })
            .collect();
        let stats = stats
            .into_iter()
            .map(|(user, at, value)| {
                (
                    at * 100,
                    USERS[user].to_string(),
                    value.and_then(|(regular, score)| {
                        row(vec![
                            Some(FieldValue::Bool(regular)),
                            Some(FieldValue::Double([0.2, 0.6, 0.9][score])),
                        ])
                    }),
                )
            })
            .collect();
        let mut rules = vec![(0, base_rules())];
        if let Some(at) = edit_at {
            rules.push((at * 100, edited_rules()));
        }
        let mut scenario = Scenario {
            config: config(),
            rules,
            profiles,
            stats,
            ..Scenario::default()
        };
        if late {
            scenario.config.dedup_horizon_ms = LATE_HORIZON;
            scenario.arrivals = partitioned(&arrivals)
                .into_iter()
                .map(|records| {
                    records
                        .into_iter()
                        .filter_map(|r| if let SourceRecord::Event(e) = r { Some(e) } else { None })
                        .collect()
                })
                .collect();
        } else {
            scenario.events = all;
        }
        Case { scenario, arrivals }
    })
}

pub fn partitioned(arrivals: &[(u64, usize, Event)]) -> Vec<Vec<SourceRecord>> {
    let count = arrivals.iter().map(|(_, p, _)| p + 1).max().unwrap_or(1);
    let mut partitions = vec![Vec::new(); count];
    for (_, partition, event) in arrivals {
        partitions[*partition].push(SourceRecord::Event(event.clone()));
    }
    partitions
}

/// The segments of a set whose results do not depend on how long a user is
/// remembered: no unwindowed feature (`last`, `first_seen`, `last_seen`), no `now()`.
pub fn eviction_proof(defs: Vec<segstream_rules::SegmentDef>) -> Vec<segstream_rules::SegmentDef> {
    let unwindowed = ["last(", "first_seen(", "last_seen(", "now()"];
    defs.into_iter()
        .filter(|d| !unwindowed.iter().any(|f| d.when.contains(f)))
        .collect()
}

/// A short user TTL: idle users without windows are evicted (members keep a dormant
/// record) and rebuilt from the profile and stats arrangements — by their next input,
/// or by a rule edit that adds segments over profile and stats alone.
pub fn case_with_eviction() -> impl Strategy<Value = Case> {
    case(false).prop_map(|mut case| {
        case.scenario.config.user_ttl_ms = EVICTION_TTL;
        case.scenario.rules = std::mem::take(&mut case.scenario.rules)
            .into_iter()
            .map(|(tick, mut defs)| {
                // Sticky: a member stays one while evicted, and wakes as one.
                defs.push(sticky(segment("ever_spent", r#"sum("purchase", "amount", "5m") >= 5.0"#)));
                if tick > 0 {
                    // Added by the edit: reaches evicted users only through the arrangements.
                    defs.push(segment("female", r#"profile.gender == "female""#));
                    defs.push(segment("regular_only", "stats.isRegularPlayer"));
                }
                (tick, eviction_proof(defs))
            })
            .collect();
        case
    })
}

/// The user TTL of the eviction cases: shorter than the gaps between a user's inputs.
pub const EVICTION_TTL: u64 = 20_000;
