//! Shared fixture for classifier tests: a schema, a rule set exercising every feature
//! kind and the merge policy, scenario builders, and running the timely dataflow.
#![allow(dead_code)]

pub mod cases;

use std::sync::Arc;

use segstream_dataflows::bounded::{run_bounded, SideInputs};
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::source::{SourceRecord, VecSource};
use segstream_dataflows::classifier::{ClassifierConfig, MembershipChange};
use segstream_dataflows::dataflow::Shared;
use segstream_model::event::{Event, Row};
use segstream_oracle::{expected_changes, Scenario};
use segstream_rules::{FieldValue, Schema, SegmentDef, SegmentKind, UdfRegistry};

pub const SCHEMA: &str = r#"
[profile]
gender = "string"
birthDate = "date"
[stats]
isRegularPlayer = "bool"
score = "double"
[events.ad_watched]
network = "string"
duration_s = "double"
[events.ad_shown]
[events.ad_clicked]
network = "string"
[events.purchase]
amount = "double"
qty = "int"
[events.app_opened]
os = "string"
"#;

pub fn schema() -> Schema {
    Schema::from_toml(SCHEMA).unwrap_or_else(|e| panic!("schema: {e:?}"))
}

pub fn segment(id: &str, when: &str) -> SegmentDef {
    SegmentDef {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        kind: SegmentKind::Dynamic,
        group: None,
        priority: None,
        parent: None,
        when: when.into(),
    }
}

pub fn sticky(mut def: SegmentDef) -> SegmentDef {
    def.kind = SegmentKind::Sticky;
    def
}

pub fn grouped(mut def: SegmentDef, group: &str, priority: i64) -> SegmentDef {
    def.group = Some(group.into());
    def.priority = Some(priority);
    def
}

pub fn child_of(mut def: SegmentDef, parent: &str) -> SegmentDef {
    def.parent = Some(parent.into());
    def
}

pub fn enter(time: u64, user: &str, segment: &str) -> MembershipChange {
    MembershipChange {
        time,
        user: user.into(),
        segment: segment.into(),
        entered: true,
    }
}

pub fn exit(time: u64, user: &str, segment: &str) -> MembershipChange {
    MembershipChange {
        time,
        user: user.into(),
        segment: segment.into(),
        entered: false,
    }
}

/// A set using every feature kind, profile and stats, now(), sticky, a group and a parent.
pub fn base_rules() -> Vec<SegmentDef> {
    let mut spender = segment("spender", r#"sum("purchase", "amount", "5m") >= 10.0"#);
    spender.group = Some("tier".into());
    spender.priority = Some(2);
    spender.parent = Some("payer".into());
    let mut small = segment("small", r#"count("purchase", "5m") >= 1"#);
    small.group = Some("tier".into());
    small.priority = Some(1);
    small.parent = Some("payer".into());
    let mut veteran = segment("veteran", r#"first_seen("app_opened") <= now() - duration("2m")"#);
    veteran.kind = SegmentKind::Sticky;
    vec![
        segment("watcher", r#"count("ad_watched", "1m") >= 2"#),
        segment("long_watcher", r#"count("ad_watched", "5m", event.duration_s >= 15.0) >= 1"#),
        spender,
        small,
        segment("payer", "false"),
        segment("qty_max", r#"max("purchase", "qty", "5m") >= 3"#),
        segment("avg_spend", r#"avg("purchase", "amount", "5m") > 4.0"#),
        segment("networks", r#"distinct_count("ad_watched", "network", "5m") >= 2"#),
        segment("ios_last", r#"last("app_opened").os == "iOS""#),
        segment("clicker", r#"sequence("ad_shown", "ad_clicked", "1m")"#),
        veteran,
        segment("women", r#"profile.gender == "female" && count("ad_watched", "10s") >= 1"#),
        segment("regular", r#"stats.isRegularPlayer && stats.score > 0.5"#),
        segment("recent_open", r#"now() - last_seen("app_opened") < duration("30s")"#),
        segment("min_amount", r#"min("purchase", "amount", "1m") < 2.0"#),
        // These share features with the segments above: a change re-evaluates every reader.
        segment("binge", r#"count("ad_watched", "1m") >= 4"#),
        segment("big_spender", r#"sum("purchase", "amount", "5m") >= 25.0"#),
        segment("ios_buyer", r#"last("app_opened").os == "iOS" && count("purchase", "5m") >= 1"#),
    ]
}

/// The base set edited: a threshold raised, a segment added, one removed.
pub fn edited_rules() -> Vec<SegmentDef> {
    let mut rules: Vec<SegmentDef> = base_rules().into_iter().filter(|d| d.id != "qty_max").collect();
    if let Some(watcher) = rules.iter_mut().find(|d| d.id == "watcher") {
        watcher.when = r#"count("ad_watched", "1m") >= 3"#.into();
    }
    rules.push(segment("clicker2", r#"count("ad_clicked", "1m") >= 1"#));
    rules
}

pub fn config() -> ClassifierConfig {
    ClassifierConfig {
        tick_ms: 100,
        max_out_of_order_ms: 1_000,
        ..ClassifierConfig::default()
    }
}

/// An event with properties by name.
pub fn event(schema: &Schema, id: &str, user: &str, kind: &str, time: u64, props: &[(&str, FieldValue)]) -> Event {
    let event_type = schema.event_type(kind).unwrap_or_else(|| panic!("no event type {kind}"));
    let fields = schema.event_properties(event_type).cloned().unwrap_or_default();
    let mut properties: Row = vec![None; fields.len()];
    for (name, value) in props {
        if let Some((slot, _)) = fields.lookup(name) {
            properties[slot] = Some(value.clone());
        }
    }
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

pub fn shared(schema: Schema, config: ClassifierConfig, budget: usize) -> Shared {
    Shared {
        schema: Arc::new(schema),
        udfs: Arc::new(UdfRegistry::new()),
        config,
        metrics: Arc::new(ClassifierMetrics::default()),
        clock: Arc::new(|| 0),
        source_budget: budget,
        lookups: Default::default(),
    }
}

/// Runs the timely dataflow with `workers` threads over records in partitions.
pub fn run_dataflow(
    scenario: &Scenario,
    partitions: Vec<Vec<SourceRecord>>,
    workers: usize,
    budget: usize,
) -> Result<Vec<MembershipChange>, String> {
    run_dataflow_with(shared(schema(), scenario.config, budget), scenario, partitions, workers)
}

pub fn run_dataflow_with(
    shared: Shared,
    scenario: &Scenario,
    partitions: Vec<Vec<SourceRecord>>,
    workers: usize,
) -> Result<Vec<MembershipChange>, String> {
    let side = side_inputs(scenario);
    let partitions = Arc::new(partitions);
    run_bounded(timely::Config::process(workers), shared, side, move |index, peers| {
        VecSource::for_worker(&partitions, index, peers)
    })
}

/// The rules, profiles and stats of a scenario, as a bounded run sends them.
pub fn side_inputs(scenario: &Scenario) -> SideInputs {
    SideInputs {
        rules: scenario.rules.clone(),
        profiles: scenario.profiles.clone(),
        stats: scenario.stats.clone(),
    }
}

pub fn oracle(scenario: &Scenario) -> Vec<MembershipChange> {
    expected_changes(&schema(), &UdfRegistry::new(), scenario).unwrap_or_else(|e| panic!("oracle: {e}"))
}

/// Membership after all changes at or before `time`.
pub fn members_at(changes: &[MembershipChange], time: u64) -> std::collections::BTreeSet<(String, String)> {
    let mut members = std::collections::BTreeSet::new();
    for c in changes.iter().filter(|c| c.time <= time) {
        if c.entered {
            members.insert((c.user.clone(), c.segment.clone()));
        } else {
            members.remove(&(c.user.clone(), c.segment.clone()));
        }
    }
    members
}
