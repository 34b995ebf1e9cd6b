//! The Kafka event source: one worker's share of the `events` partitions.
//!
//! Contract: implements the classifier's [`EventSource`]. Global worker `w` of `n`
//! reads the partitions `p` with `p % n == w`, with its own `BaseConsumer` polled with
//! a zero timeout (never blocking the worker). A partition is caught up when librdkafka
//! reports partition EOF and no record arrived since. Every record is decoded against
//! the schema; a record that does not decode (bad JSON, wrong types, empty payload) is
//! rejected with its reason and sent to the dead-letter topic, and so is an event the
//! classifier sidelines as too old (its user, id and times, and the reason). The topic's metadata is
//! re-read every few seconds and new partitions are picked up from their beginning.
//! Offsets are committed (asynchronously, at most once a second) only up to the first
//! record whose emitted tick the durable frontier has not passed; the frontier comes
//! from a probe on the durable sinks, and never past a record whose dead letter the
//! broker has not acknowledged ([`DeadLetters::commit_bound`]). On start each partition resumes from the earlier
//! of its committed offset and the offset at `resume_from_ms` (the durable frontier
//! rewound by the dedup horizon and the longest window), found by offsets-for-times —
//! or, restoring a checkpoint, from its resume point there. It answers where each of its
//! partitions resumes for a checkpoint ([`EventSource::resume_point`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use segstream_dataflows::classifier::emitted::{EmittedRuns, ResumePoint};
use segstream_dataflows::classifier::source::{Emitted, EventSource, Poll, SourceRecord};
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_model::event::decode::decode_event_line;
use segstream_rules::Schema;
use timely::dataflow::ProbeHandle;

use super::admin::{offsets_at_time, owned_partitions, partition_count, partition_count_within};
use super::client_context::KafkaConsumer;
use super::dead_letter::{DeadLetters, Origin};
use super::offsets::resume_offset;
use super::records::sidelined_json;
use super::{REQUEST_TIMEOUT, STARTUP_TIMEOUT};
use segstream_config::DeploymentConfig;

/// How often offsets are committed.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// How often the topic's partition count is re-read.
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct PartitionState {
    caught_up: bool,
    /// Offsets polled whose emitted tick the operator has not told yet, in order.
    polled: VecDeque<i64>,
    commits: EmittedRuns,
    committed: Option<i64>,
}

/// Why a checkpoint resuming at `offset` cannot be restored from a partition whose
/// first record is at `low`, if it cannot.
fn gone_before(offset: i64, low: i64) -> Option<String> {
    (offset < low).then(|| {
        format!(
            "the checkpoint resumes at offset {offset}, but the records before {low} are gone (the topic's retention \
             deleted them before a newer checkpoint covered them), so the state would miss them; keep the topic's \
             retention longer than the checkpoint interval plus the longest outage, or start from an empty checkpoint \
             location to rebuild from what the topic holds"
        )
    })
}

/// What the source needs besides the consumer.
pub struct SourceSetup {
    /// This worker's global index.
    pub worker: usize,
    /// All workers of all processes.
    pub workers: usize,
    /// The schema events are decoded with.
    pub schema: Arc<Schema>,
    /// Time parameters.
    pub config: ClassifierConfig,
    /// Where undecodable records go.
    pub dead_letters: DeadLetters,
    /// The durable frontier (a probe on the sinks).
    pub durable: ProbeHandle<u64>,
    /// Event time to resume from on start (0: from the committed offsets or the beginning).
    pub resume_from_ms: u64,
    /// Restoring a checkpoint: where each partition resumes (one absent from it had
    /// delivered nothing before the checkpoint, so it starts at its beginning).
    pub checkpoint: Option<BTreeMap<u32, ResumePoint>>,
}

/// One worker's Kafka event source (see the module contract).
pub struct KafkaEventSource {
    consumer: KafkaConsumer,
    topic: String,
    setup: SourceSetup,
    partitions: BTreeMap<i32, PartitionState>,
    last_commit: Instant,
    last_discovery: Instant,
    failures: u64,
}

impl KafkaEventSource {
    /// Connects, finds this worker's partitions and where each resumes.
    pub fn new(config: &DeploymentConfig, setup: SourceSetup) -> Result<KafkaEventSource, String> {
        let topic = config.topics.events.clone();
        let consumer = super::consumer(config, &config.kafka.group).map_err(|e| format!("kafka consumer: {e}"))?;
        let count = partition_count(&consumer, &topic)?;
        if count == 0 {
            return Err(format!("topic {topic:?} does not exist (create it with `segstream topics create`)"));
        }
        let mut source = KafkaEventSource {
            consumer,
            topic,
            setup,
            partitions: BTreeMap::new(),
            last_commit: Instant::now(),
            last_discovery: Instant::now(),
            failures: 0,
        };
        let mine = owned_partitions(count, source.setup.worker, source.setup.workers);
        source.assign(&mine, true)?;
        Ok(source)
    }

    /// Adds partitions; on start they resume (from the checkpoint's resume points when
    /// restoring one), later ones start at their beginning.
    fn assign(&mut self, partitions: &[i32], resume: bool) -> Result<(), String> {
        if partitions.is_empty() {
            return Ok(());
        }
        let checkpoint = self.setup.checkpoint.as_ref().filter(|_| resume);
        let committed = if resume && checkpoint.is_none() {
            self.committed(partitions)?
        } else {
            BTreeMap::new()
        };
        let rewound = if resume && checkpoint.is_none() && self.setup.resume_from_ms > 0 {
            self.offsets_at(partitions, self.setup.resume_from_ms)?
        } else {
            BTreeMap::new()
        };
        if let Some(points) = checkpoint {
            self.check_retained(partitions, points)?;
        }
        let mut assignment = TopicPartitionList::new();
        for &p in partitions {
            let point = checkpoint.and_then(|points| points.get(&(p as u32)).copied());
            let start = match checkpoint {
                Some(_) => point.map(|point| point.offset),
                None => resume_offset(committed.get(&p).copied(), rewound.get(&p).copied()),
            };
            let offset = start.map_or(Offset::Beginning, Offset::Offset);
            let seen_before = point.and_then(|point| point.seen_before);
            assignment
                .add_partition_offset(&self.topic, p, offset)
                .map_err(|e| format!("assigning {}/{p}: {e}", self.topic))?;
            // Where a checkpoint taken before the first record resumes: here.
            let commits = start.map_or_else(EmittedRuns::default, |offset| {
                EmittedRuns::starting_at(ResumePoint { offset, seen_before })
            });
            self.partitions.insert(
                p,
                PartitionState {
                    committed: committed.get(&p).copied(),
                    commits,
                    ..PartitionState::default()
                },
            );
        }
        self.consumer
            .incremental_assign(&assignment)
            .map_err(|e| format!("assigning partitions of {}: {e}", self.topic))
    }

    /// An error if the topic no longer holds a record a checkpoint resumes from: its
    /// retention deleted records the state after the checkpoint is built from, and a
    /// restore would miss them silently.
    fn check_retained(&self, partitions: &[i32], points: &BTreeMap<u32, ResumePoint>) -> Result<(), String> {
        for &p in partitions {
            let Some(point) = points.get(&(p as u32)) else { continue };
            let (low, _) = self
                .consumer
                .fetch_watermarks(&self.topic, p, STARTUP_TIMEOUT)
                .map_err(|e| format!("watermarks of {}/{p}: {e}", self.topic))?;
            gone_before(point.offset, low).map_or(Ok(()), |gone| Err(format!("{}/{p}: {gone}", self.topic)))?;
        }
        Ok(())
    }

    fn committed(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, String> {
        let mut query = TopicPartitionList::new();
        for &p in partitions {
            query.add_partition(&self.topic, p);
        }
        let answer = self
            .consumer
            .committed_offsets(query, STARTUP_TIMEOUT)
            .map_err(|e| format!("committed offsets of {}: {e}", self.topic))?;
        Ok(answer
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }

    /// Where each of `partitions` holds its first record at or after `time_ms` (its end
    /// if none does).
    fn offsets_at(&self, partitions: &[i32], time_ms: u64) -> Result<BTreeMap<i32, i64>, String> {
        let starts = offsets_at_time(&self.consumer, &self.topic, partitions, time_ms as i64)?;
        Ok(starts.into_iter().map(|(p, (start, _))| (p, start)).collect())
    }

    fn durable_frontier(&self) -> u64 {
        self.setup.durable.with_frontier(|f| f.iter().next().copied().unwrap_or(u64::MAX))
    }

    fn commit(&mut self) {
        self.last_commit = Instant::now();
        let durable = self.durable_frontier();
        let mut offsets = TopicPartitionList::new();
        for (p, state) in self.partitions.iter_mut() {
            let letters = &self.setup.dead_letters;
            let bounded = state.commits.committable(durable).map(|o| letters.commit_bound(&self.topic, *p, o));
            if let Some(offset) = bounded {
                if state.committed != Some(offset) && offsets.add_partition_offset(&self.topic, *p, Offset::Offset(offset)).is_ok() {
                    state.committed = Some(offset);
                }
            }
        }
        if offsets.count() > 0 {
            if let Err(e) = self.consumer.commit(&offsets, CommitMode::Async) {
                tracing::warn!(topic = %self.topic, error = %e, "kafka: committing offsets failed");
            }
        }
    }

    fn discover(&mut self) {
        self.last_discovery = Instant::now();
        match partition_count_within(&self.consumer, &self.topic, REQUEST_TIMEOUT) {
            Ok(count) => {
                let new: Vec<i32> = owned_partitions(count, self.setup.worker, self.setup.workers)
                    .into_iter()
                    .filter(|p| !self.partitions.contains_key(p))
                    .collect();
                if !new.is_empty() {
                    tracing::info!(topic = %self.topic, worker = self.setup.worker, partitions = ?new, "kafka: picking up new partitions");
                    if let Err(e) = self.assign(&new, false) {
                        tracing::error!(topic = %self.topic, partitions = ?new, error = %e, "kafka: assigning new partitions failed");
                    }
                }
            }
            Err(e) => tracing::warn!(topic = %self.topic, error = %e, "kafka: discovering partitions failed"),
        }
    }

    fn decode(&self, message: &rdkafka::message::BorrowedMessage<'_>) -> SourceRecord {
        let payload = message.payload().unwrap_or_default();
        let decoded = if payload.is_empty() {
            Err("empty payload".to_string())
        } else {
            std::str::from_utf8(payload)
                .map_err(|e| format!("payload is not UTF-8: {e}"))
                .and_then(|text| decode_event_line(text, &self.setup.schema, self.setup.config.future_tolerance_ms).map_err(|e| e.reason))
        };
        match decoded {
            Ok(event) => SourceRecord::Event(event),
            Err(reason) => {
                let origin = Origin::of(message);
                self.setup.dead_letters.send(&origin, &reason, segstream_time::wall_clock_ms());
                SourceRecord::Rejected(reason)
            }
        }
    }
}

impl EventSource for KafkaEventSource {
    fn partitions(&self) -> Vec<u32> {
        self.partitions.keys().map(|p| *p as u32).collect()
    }

    fn poll(&mut self, budget: usize, out: &mut Vec<(u32, SourceRecord)>) -> Poll {
        for _ in 0..budget {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(message)) => {
                    let record = self.decode(&message);
                    let partition = message.partition();
                    if let Some(state) = self.partitions.get_mut(&partition) {
                        state.caught_up = false;
                        state.polled.push_back(message.offset());
                    }
                    out.push((partition as u32, record));
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    if let Some(state) = self.partitions.get_mut(&p) {
                        state.caught_up = true;
                    }
                }
                Some(Err(e)) => {
                    self.failures += 1;
                    if self.failures.is_power_of_two() {
                        tracing::warn!(topic = %self.topic, error = %e, errors = self.failures, "kafka: reading failed");
                    }
                    break;
                }
            }
        }
        if self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.commit();
        }
        if self.last_discovery.elapsed() >= DISCOVERY_INTERVAL {
            self.discover();
        }
        Poll::Open
    }

    fn caught_up(&self, partition: u32) -> bool {
        self.partitions.get(&(partition as i32)).is_none_or(|s| s.caught_up)
    }

    fn may_gain_partitions(&self) -> bool {
        true
    }

    fn on_sidelined(&mut self, partition: u32, event: &segstream_model::event::Event) {
        let Some(offset) = self.partitions.get(&(partition as i32)).and_then(|s| s.polled.front().copied()) else {
            return;
        };
        let summary = sidelined_json(event).to_string();
        let origin = Origin {
            topic: &self.topic,
            partition: partition as i32,
            offset,
            key: Some(event.user.as_bytes()),
            payload: Some(summary.as_bytes()),
        };
        let reason = format!(
            "sidelined: older than its partition's watermark minus the dedup horizon ({} ms), so not applied; the record is at this offset",
            self.setup.config.dedup_horizon_ms
        );
        self.setup.dead_letters.send(&origin, &reason, segstream_time::wall_clock_ms());
    }

    fn on_emitted(&mut self, partition: u32, emitted: Emitted) {
        if let Some(state) = self.partitions.get_mut(&(partition as i32)) {
            if let Some(offset) = state.polled.pop_front() {
                state
                    .commits
                    .record_with(offset, emitted.tick, emitted.seen_before, emitted.seen_after);
            }
        }
    }

    fn resume_point(&self, partition: u32, as_of: u64) -> Option<ResumePoint> {
        self.partitions.get(&(partition as i32)).and_then(|s| s.commits.resume_point(as_of))
    }
}

#[cfg(test)]
mod tests {
    use super::gone_before;

    #[test]
    fn a_checkpoint_resuming_before_the_first_record_kept_is_refused() {
        assert_eq!(gone_before(120, 120), None, "resumes at the first record kept");
        assert_eq!(gone_before(500, 120), None);
        let refused = gone_before(80, 120).unwrap_or_default();
        assert!(
            refused.contains("offset 80") && refused.contains("before 120 are gone"),
            "{refused}"
        );
    }
}
