//! Profiles, stats and rules from their topics into the classifier's live inputs.
//!
//! Contract: each worker reads its share of `user-profiles` and `user-stats`
//! (partition `p` for global worker `p % n`, from the beginning: they are compacted
//! tables; after a restore, from the checkpoint's [`SidePoints`]) and global worker 0
//! also reads `segment-rules` (always from the beginning). A profile or stats record is
//! an upsert keyed by user id: a JSON object of the schema's fields, or a tombstone
//! (no payload) that deletes. A rules record is a whole published rule set; it is
//! validated like `segstream rules check` and applied as the difference to the rules
//! in force. Each takes effect at the tick of its Kafka timestamp (clamped to at most
//! now plus the future tolerance, like event times), or at the input's current tick if
//! that is later, or — profiles and stats — at the tick of the partition's previous
//! record if that is later: a partition's records take effect in offset order, the
//! order compaction keeps, so that where a restart resumes is one offset per partition.
//! Anything that does not decode or validate goes to the
//! dead-letter topic with the reason, and the input goes on. [`SideInputs::bootstrap`]
//! reads everything present at start before the first event is processed, so the
//! tables and rules that existed before a run are in force from their own times.
//!
//! Checkpoints: a reader that checkpoints remembers at which tick each profile and stats
//! record went in ([`EmittedRuns`], a run per tick), and [`SideInputs::resume_points`]
//! gives where each partition resumes for a checkpoint as of `T`: its first record that
//! went in at `T` or later. The checkpoint's engine state holds the rows of every record
//! before (`held_rows`, which seed the arrangements on restore).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use segstream_dataflows::classifier::emitted::{EmittedRuns, ResumePoint};
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_dataflows::dataflow::Handles;
use segstream_model::event::Row;
use segstream_model::upsert::decode_row;
use segstream_rules::{load_rule_files, FieldSet, Limits, Schema, SegmentDef, UdfRegistry};

use super::admin::{owned_partitions, partition_count};
use super::client_context::KafkaConsumer;
use super::dead_letter::{DeadLetters, Origin};
use segstream_config::DeploymentConfig;
use segstream_rules::snapshot::RulesSnapshot;

/// The longest the bootstrap may take.
const BOOTSTRAP_LIMIT: Duration = Duration::from_secs(120);

/// Where each profile and stats partition resumes after a checkpoint, by
/// [`side_partition`] name.
pub type SidePoints = BTreeMap<String, ResumePoint>;

/// The name of a side partition in [`SidePoints`]: `profiles/<p>` or `stats/<p>`
/// (by role, not topic name, so a checkpoint outlives a topic's renaming).
pub fn side_partition(table: Table, partition: i32) -> String {
    let role = match table {
        Table::Profiles => "profiles",
        Table::Stats => "stats",
    };
    format!("{role}/{partition}")
}

/// A side table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// `user-profiles`.
    Profiles,
    /// `user-stats`.
    Stats,
}

/// What a side record means.
enum Side {
    Table(Table),
    Rules,
}

/// One worker's side-input reader (see the module contract).
pub struct SideInputs {
    consumer: KafkaConsumer,
    profiles_topic: String,
    stats_topic: String,
    rules_topic: String,
    schema: Arc<Schema>,
    config: ClassifierConfig,
    dead_letters: DeadLetters,
    rules: Vec<SegmentDef>,
    /// The rule-set version last applied, and when (rule-input time).
    applied: Option<(u64, u64)>,
    /// The end offsets at start of partitions not yet read that far.
    not_yet_at_end: HashMap<(String, i32), i64>,
    /// Per profile and stats partition: the tick its last record went in at, and (when
    /// checkpointing) the ticks its records went in at.
    sent: HashMap<(Table, i32), (u64, Option<EmittedRuns>)>,
}

impl SideInputs {
    /// Assigns this worker's partitions of the side topics: profiles and stats from
    /// `resume` (a partition it has no point for from its beginning) if restoring, from
    /// their beginning otherwise. `checkpointing`: whether to remember where records went
    /// in, for [`SideInputs::resume_points`].
    pub fn new(
        deployment: &DeploymentConfig,
        (worker, workers): (usize, usize),
        schema: Arc<Schema>,
        dead_letters: DeadLetters,
        (resume, checkpointing): (Option<&SidePoints>, bool),
    ) -> Result<SideInputs, String> {
        let topics = &deployment.topics;
        let consumer = super::consumer(deployment, &format!("{}-side-inputs", deployment.kafka.group)).map_err(|e| e.to_string())?;
        let mut assignment = TopicPartitionList::new();
        let mut not_yet_at_end = HashMap::new();
        let mut sent = HashMap::new();
        let mut owned = Vec::new();
        for (topic, table) in [(&topics.profiles, Table::Profiles), (&topics.stats, Table::Stats)] {
            let count = partition_count(&consumer, topic)?;
            owned.extend(
                owned_partitions(count, worker, workers)
                    .into_iter()
                    .map(|p| (topic.clone(), p, Some(table))),
            );
        }
        if worker == 0 {
            let count = partition_count(&consumer, &topics.rules)?;
            owned.extend((0..count).map(|p| (topics.rules.clone(), p, None)));
        }
        for (topic, p, table) in owned {
            let point = table.and_then(|table| resume?.get(&side_partition(table, p)).copied());
            if let Some(table) = table {
                let runs = checkpointing.then(|| point.map_or_else(EmittedRuns::default, EmittedRuns::starting_at));
                sent.insert((table, p), (0, runs));
            }
            let start = point.map_or(Offset::Beginning, |point| Offset::Offset(point.offset));
            assignment
                .add_partition_offset(&topic, p, start)
                .map_err(|e| format!("assigning {topic}/{p}: {e}"))?;
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, super::STARTUP_TIMEOUT)
                .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
            if high > point.map_or(low, |point| point.offset.max(low)) {
                not_yet_at_end.insert((topic, p), high);
            }
        }
        consumer.assign(&assignment).map_err(|e| format!("assigning side topics: {e}"))?;
        Ok(SideInputs {
            consumer,
            profiles_topic: topics.profiles.clone(),
            stats_topic: topics.stats.clone(),
            rules_topic: topics.rules.clone(),
            schema,
            config: deployment.classifier_config().map_err(|e| e.to_string())?,
            dead_letters,
            rules: Vec::new(),
            applied: None,
            not_yet_at_end,
            sent,
        })
    }

    /// Where each profile and stats partition resumes for a checkpoint as of `as_of`
    /// (see the module contract), once the side inputs' time has passed `as_of`; what
    /// it remembers of the records before `as_of` is then released. Empty when not
    /// checkpointing.
    pub fn resume_points(&mut self, as_of: u64) -> SidePoints {
        let mut points = SidePoints::new();
        for ((table, p), (_, runs)) in self.sent.iter_mut() {
            if let Some(runs) = runs {
                points.extend(runs.resume_point(as_of).map(|point| (side_partition(*table, *p), point)));
                runs.committable(as_of);
            }
        }
        points
    }

    /// Reads until every assigned partition has reached its end once; how many records
    /// that took.
    pub fn bootstrap(&mut self, handles: &mut Handles) -> Result<usize, String> {
        let started = Instant::now();
        let mut read = 0;
        while !self.not_yet_at_end.is_empty() {
            if started.elapsed() > BOOTSTRAP_LIMIT {
                let left: Vec<&(String, i32)> = self.not_yet_at_end.keys().collect();
                return Err(format!("side topics not read to their end within {BOOTSTRAP_LIMIT:?}: {left:?}"));
            }
            let polled = self.poll(handles, 10_000);
            read += polled;
            if polled == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(read)
    }

    /// Applies up to `budget` records; returns how many were read.
    pub fn poll(&mut self, handles: &mut Handles, budget: usize) -> usize {
        let mut read = 0;
        while read < budget {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(message)) => {
                    read += 1;
                    let message = message.detach();
                    self.apply(&message, handles);
                    if !self.not_yet_at_end.is_empty() {
                        let at = (message.topic().to_string(), message.partition());
                        if self.not_yet_at_end.get(&at).is_some_and(|end| message.offset() + 1 >= *end) {
                            self.not_yet_at_end.remove(&at);
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka: reading side inputs failed");
                    break;
                }
            }
        }
        read
    }

    fn apply(&mut self, message: &OwnedMessage, handles: &mut Handles) {
        let side = match message.topic() {
            t if t == self.profiles_topic => Side::Table(Table::Profiles),
            t if t == self.stats_topic => Side::Table(Table::Stats),
            t if t == self.rules_topic => Side::Rules,
            _ => return,
        };
        let stamp = message.timestamp().to_millis().map_or(0, |t| t.max(0) as u64);
        let tick = self.config.tick_of(clamp_to_now(
            stamp,
            segstream_time::wall_clock_ms(),
            self.config.future_tolerance_ms,
        ));
        let result = match side {
            Side::Table(table) => {
                let fields = match table {
                    Table::Profiles => &self.schema.profile,
                    Table::Stats => &self.schema.stats,
                };
                upsert(message, fields).map(|(user, row)| {
                    let input = match table {
                        Table::Profiles => &mut handles.profiles,
                        Table::Stats => &mut handles.stats,
                    };
                    let at = self.went_in(table, message, tick.max(*input.time()));
                    input.send((user, row, at));
                })
            }
            Side::Rules => self.apply_rules(message, tick, handles),
        };
        if let Err(reason) = result {
            let origin = Origin::of(message);
            self.dead_letters.send(&origin, &reason, segstream_time::wall_clock_ms());
        }
    }

    /// The tick a table record takes effect at, no earlier than `at` nor than its
    /// partition's previous record (see the module contract); remembered.
    fn went_in(&mut self, table: Table, message: &OwnedMessage, at: u64) -> u64 {
        let (last, runs) = self.sent.entry((table, message.partition())).or_insert((0, None));
        *last = at.max(*last);
        if let Some(runs) = runs {
            runs.record(message.offset(), *last, None);
        }
        *last
    }

    fn apply_rules(&mut self, message: &OwnedMessage, tick: u64, handles: &mut Handles) -> Result<(), String> {
        let (next, version) = decode_rules(message.payload(), &self.schema)?;
        let at = tick.max(*handles.rules.time());
        for def in self.rules.iter().filter(|d| !next.contains(d)) {
            handles.rules.update_at(def.clone(), at, -1);
        }
        for def in next.iter().filter(|d| !self.rules.contains(d)) {
            handles.rules.update_at(def.clone(), at, 1);
        }
        handles.rules.flush();
        tracing::info!(version = ?version, tick = at, "rules: applied a published set of {} segments", next.len());
        self.rules = next;
        self.applied = Some((version, at));
        Ok(())
    }

    /// The rule-set version this reader last applied and the rule-input time it went in
    /// at (worker 0 reads the rules; other workers have none).
    pub fn rules_applied(&self) -> Option<(u64, u64)> {
        self.applied
    }
}

/// A side record's time: its Kafka timestamp, but never later than now plus the future
/// tolerance, so a producer with a wrong clock cannot push an input's time (and with it
/// every later record of that input) into the future.
pub fn clamp_to_now(stamp_ms: u64, now_ms: u64, future_tolerance_ms: u64) -> u64 {
    stamp_ms.min(now_ms.saturating_add(future_tolerance_ms))
}

/// Decodes and validates a published rule set: its definitions and rule-set version.
pub fn decode_rules(payload: Option<&[u8]>, schema: &Schema) -> Result<(Vec<SegmentDef>, u64), String> {
    let snapshot: RulesSnapshot = serde_json::from_slice(payload.unwrap_or_default()).map_err(|e| format!("not a rules snapshot: {e}"))?;
    load_rule_files(&snapshot.sources(), schema, &UdfRegistry::new(), Limits::default())
        .map(|(_, defs)| (defs, snapshot.version))
        .map_err(|diagnostics| {
            let all: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            format!("invalid rules: {}", all.join("; "))
        })
}

/// Decodes an upsert: the user id (the key) and the row, or `None` for a tombstone.
fn upsert(message: &OwnedMessage, fields: &FieldSet) -> Result<(String, Option<Row>), String> {
    let user = match message.key() {
        Some(key) if !key.is_empty() => std::str::from_utf8(key).map_err(|_| "key (user id) is not UTF-8".to_string())?,
        _ => return Err("missing key (user id)".into()),
    };
    Ok((user.to_string(), decode_row(message.payload(), fields)?))
}

#[cfg(test)]
mod tests {
    use super::clamp_to_now;

    #[test]
    fn a_side_record_from_the_future_takes_effect_no_later_than_now_plus_the_tolerance() {
        assert_eq!(clamp_to_now(1_000, 5_000, 100), 1_000, "past times are kept");
        assert_eq!(clamp_to_now(5_050, 5_000, 100), 5_050, "within the tolerance");
        assert_eq!(clamp_to_now(9_999_999_999, 5_000, 100), 5_100, "a wrong clock is clamped");
    }
}
