//! A small, exactly checkable workload for the distributed tests: rules, profiles,
//! stats and events (with jitter inside the out-of-order bound, duplicates and a few
//! malformed records; optionally late events, produced to known partitions), the
//! oracle's changes for it, and how to put it on the broker.
#![allow(dead_code)]

use std::collections::BTreeSet;

use rdkafka::producer::BaseProducer;
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_model::event::decode::decode_event_line;
use segstream_model::partitioning::partition_of;
use segstream_oracle::{expected_changes, Scenario};
use segstream_rules::{load_rule_files, Limits, Schema, SourceText, UdfRegistry};

use super::deployment::{flush, send, Change, Deployment};

pub const RULES: &str = r#"
[[segment]]
id = "watchers"
name = "Watchers"
when = 'count("ad_watched", "3s") >= 2'

[[segment]]
id = "women"
name = "Women"
when = 'profile.gender == "female"'

[[segment]]
id = "women_watching"
name = "Women watching (re-read on every ad: a lost profile shows)"
when = 'count("ad_watched", "3s") >= 1 && profile.gender == "female"'

[[segment]]
id = "regular_openers"
name = "Regular openers"
kind = "sticky"
when = 'count("app_opened", "5s") >= 1 && stats.isRegularPlayer'
"#;

/// Classifier settings of the tests' deployments.
pub const CLASSIFIER: &str =
    "[classifier]\ntick = \"100ms\"\nmax_out_of_order = \"1s\"\nidle_timeout = \"1s\"\ndedup_horizon = \"1h\"\nhistory = \"1h\"\n";

/// Malformed event records: (payload, what is wrong).
pub const MALFORMED: [(&str, &str); 3] = [
    ("{\"id\": \"x1\", \"user\": ", "malformed JSON"),
    (
        "{\"id\":\"x2\",\"user\":\"u0\",\"type\":\"purchase\",\"time\":1,\"properties\":{\"amount\":\"lots\"}}",
        "amount",
    ),
    ("", "empty payload"),
];

/// One produced event record.
#[derive(Clone)]
pub struct Produced {
    pub user: String,
    pub line: String,
    pub time: u64,
    /// The partition it is produced to; `None`: chosen by the producer from the key.
    pub partition: Option<i32>,
}

pub struct Workload {
    pub start: u64,
    pub users: Vec<String>,
    /// In production order, duplicates included.
    pub events: Vec<Produced>,
    pub profiles: Vec<(u64, String, Option<String>)>,
    pub stats: Vec<(u64, String, Option<String>)>,
}

fn schema() -> Schema {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/schema.toml")).unwrap();
    Schema::from_toml(&text).unwrap()
}

/// A deterministic pseudo-random sequence (splitmix64).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Workload {
    /// `users` users with `per_user` events each, starting at `start` (a multiple of
    /// 100 ms). User ids start with `prefix`, so runs sharing a Redis do not mix.
    pub fn new(prefix: &str, start: u64, users: usize, per_user: usize) -> Workload {
        let types = ["ad_watched", "app_opened", "ad_shown", "ad_watched"];
        let users: Vec<String> = (0..users).map(|u| format!("{prefix}-u{u}")).collect();
        // In time order (slot by slot), each event jittered inside the out-of-order bound.
        let mut events = Vec::new();
        for k in 0..per_user {
            for (u, user) in users.iter().enumerate() {
                let r = mix((u * 1000 + k) as u64);
                let time = start + 1_000 + k as u64 * 1_300 + r % 400;
                let kind = types[(r >> 8) as usize % types.len()];
                let line = format!("{{\"id\":\"{user}-{k}\",\"user\":\"{user}\",\"type\":\"{kind}\",\"time\":{time}}}");
                let produced = |line: String| Produced {
                    user: user.clone(),
                    line,
                    time,
                    partition: None,
                };
                events.push(produced(line.clone()));
                if r.is_multiple_of(7) {
                    events.push(produced(line));
                }
            }
        }
        let profiles = users
            .iter()
            .enumerate()
            .map(|(u, user)| {
                let gender = if u % 2 == 0 { "female" } else { "male" };
                (start, user.clone(), Some(format!("{{\"gender\":\"{gender}\",\"country\":\"DE\"}}")))
            })
            .chain([
                (start + 10_000, users[1].clone(), Some("{\"gender\":\"female\"}".to_string())),
                (start + 20_000, users[2].clone(), None),
            ])
            .collect();
        let stats = users
            .iter()
            .enumerate()
            .map(|(u, user)| (start, user.clone(), Some(format!("{{\"isRegularPlayer\":{}}}", u % 3 == 0))))
            .collect();
        Workload {
            start,
            users,
            events,
            profiles,
            stats,
        }
    }

    /// Adds late events — each a few seconds behind what its partition has already seen,
    /// some still inside a rule's window when they apply, some not — and puts every event
    /// in partition `partition_of(user, partitions)`, so the oracle knows each
    /// partition's order and judges lateness as the classifier must.
    pub fn with_late_events(mut self, partitions: i32) -> Workload {
        let mut events = Vec::new();
        for (n, mut produced) in std::mem::take(&mut self.events).into_iter().enumerate() {
            produced.partition = Some(partition_of(&produced.user, partitions as usize) as i32);
            let r = mix(n as u64 ^ 0x1a7e);
            if r.is_multiple_of(6) && produced.time > self.start + 14_000 {
                let time = produced.time - 1_500 - r % 6_000;
                let kind = ["ad_watched", "app_opened"][(r >> 9) as usize % 2];
                let user = produced.user.clone();
                let line = format!("{{\"id\":\"{user}-late-{n}\",\"user\":\"{user}\",\"type\":\"{kind}\",\"time\":{time}}}");
                events.push(Produced {
                    user,
                    line,
                    time,
                    partition: produced.partition,
                });
            }
            events.push(produced);
        }
        self.events = events;
        self
    }

    /// Publishes the rules (at `start`), the tables, then the events and the malformed records.
    pub fn produce(&self, d: &Deployment, producer: &BaseProducer) {
        self.produce_tables(d, producer);
        self.produce_events(d, producer, 0..self.events.len());
    }

    pub fn produce_tables(&self, d: &Deployment, producer: &BaseProducer) {
        let snapshot = serde_json::json!({"published_at": self.start, "files": [{"name": "test.toml", "text": RULES}]});
        send(producer, &d.rules, "rules", Some(&snapshot.to_string()), self.start);
        for (time, user, json) in &self.profiles {
            send(producer, &d.profiles, user, json.as_deref(), *time);
        }
        for (time, user, json) in &self.stats {
            send(producer, &d.stats, user, json.as_deref(), *time);
        }
        flush(producer);
    }

    pub fn produce_events(&self, d: &Deployment, producer: &BaseProducer, range: std::ops::Range<usize>) {
        self.produce_events_stamped(d, producer, range, None);
    }

    /// [`Workload::produce_events`], every record's Kafka timestamp `stamp` instead of its
    /// event's time (the broker's retention goes by the timestamp).
    pub fn produce_events_stamped(&self, d: &Deployment, producer: &BaseProducer, range: std::ops::Range<usize>, stamp: Option<u64>) {
        for event in &self.events[range.clone()] {
            let timestamp = stamp.unwrap_or(event.time);
            match event.partition {
                Some(p) => super::deployment::send_to(producer, &d.events, p, &event.user, &event.line, timestamp),
                None => send(producer, &d.events, &event.user, Some(&event.line), timestamp),
            }
        }
        if range.start == 0 {
            for (payload, _) in MALFORMED {
                send(producer, &d.events, &self.users[0], Some(payload), stamp.unwrap_or(self.start));
            }
        }
        flush(producer);
    }

    /// Adds one event per partition at `time` (user `sentinel-<p>`, a type no rule
    /// reads), so every partition's watermark passes `time` without relying on idleness.
    pub fn produce_sentinels(&mut self, d: &Deployment, producer: &BaseProducer, partitions: i32, time: u64) {
        for p in 0..partitions {
            let user = format!("{}-sentinel-{p}", d.name);
            // An id of its own per call: a repeated one would be a duplicate.
            let line = format!("{{\"id\":\"{user}-{time}\",\"user\":\"{user}\",\"type\":\"app_closed\",\"time\":{time}}}");
            super::deployment::send_to(producer, &d.events, p, &user, &line, time);
            self.events.push(Produced {
                user,
                line,
                time,
                partition: Some(p),
            });
        }
        flush(producer);
    }

    /// The oracle's changes at ticks up to `until`.
    pub fn expected(&self, until: u64) -> Vec<Change> {
        let schema = schema();
        let udfs = UdfRegistry::new();
        let source = SourceText {
            name: "test.toml".into(),
            text: RULES.into(),
        };
        let (_, defs) = load_rule_files(&[source], &schema, &udfs, Limits::default()).unwrap();
        let row = |fields: &segstream_rules::FieldSet, json: &Option<String>| {
            json.as_ref().map(|j| match serde_json::from_str::<serde_json::Value>(j).unwrap() {
                serde_json::Value::Object(map) => fields.read_json(&map).unwrap(),
                _ => unreachable!(),
            })
        };
        let mut scenario = Scenario {
            // As `CLASSIFIER` sets it (the dedup horizon decides what is sidelined).
            config: ClassifierConfig {
                dedup_horizon_ms: 3_600_000,
                ..ClassifierConfig::default()
            },
            rules: vec![(self.start, defs)],
            profiles: self
                .profiles
                .iter()
                .map(|(t, u, j)| (*t, u.clone(), row(&schema.profile, j)))
                .collect(),
            stats: self.stats.iter().map(|(t, u, j)| (*t, u.clone(), row(&schema.stats, j))).collect(),
            ..Scenario::default()
        };
        let decode = |event: &Produced| decode_event_line(&event.line, &schema, 60_000).unwrap();
        if self.events.iter().all(|e| e.partition.is_some()) {
            let count = self.events.iter().filter_map(|e| e.partition).max().map_or(0, |p| p as usize + 1);
            scenario.arrivals = vec![Vec::new(); count];
            for event in &self.events {
                if let Some(p) = event.partition {
                    scenario.arrivals[p as usize].push(decode(event));
                }
            }
        } else {
            scenario.events = self.events.iter().map(decode).collect();
        }
        expected_changes(&schema, &udfs, &scenario)
            .unwrap()
            .into_iter()
            .filter(|c| c.time <= until)
            .map(|c| (c.user, c.segment, c.time, c.entered))
            .collect()
    }
}

/// The deployment's changes at ticks up to `until`, read back from `segment-changes`,
/// sorted, and checked to hold no change twice.
pub fn changes_through(d: &Deployment, until: u64) -> Vec<Change> {
    sorted_without_repeats(super::deployment::read_changes(&d.changes), &d.changes)
        .into_iter()
        .filter(|c| c.2 <= until)
        .collect()
}

/// Sorted, and checked to hold no change twice.
pub fn sorted_without_repeats(mut changes: Vec<Change>, what: &str) -> Vec<Change> {
    let distinct: BTreeSet<&Change> = changes.iter().collect();
    assert_eq!(distinct.len(), changes.len(), "{what}: a change was emitted twice");
    changes.sort_by(|a, b| (a.2, &a.0, &a.1, a.3).cmp(&(b.2, &b.0, &b.1, b.3)));
    changes
}

/// The memberships the changes leave: (user, segment, entered at).
pub fn final_memberships(changes: &[Change]) -> BTreeSet<(String, String, u64)> {
    let mut ordered = changes.to_vec();
    ordered.sort_by_key(|c| c.2);
    let mut current = std::collections::BTreeMap::new();
    for (user, segment, tick, entered) in ordered {
        if entered {
            current.insert((user, segment), tick);
        } else {
            current.remove(&(user, segment));
        }
    }
    current.into_iter().map(|((u, s), t)| (u, s, t)).collect()
}
