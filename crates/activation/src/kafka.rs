//! The activator on Kafka: each partner's own consumer of `segment-changes`, with its
//! backfill, and the producer of `kafka` partners.
//!
//! Contract: [`KafkaChangeSource::open`] reads every partition of the changes topic
//! under the consumer group `<group>-activator-<partner>`, from the group's committed
//! offsets. A partner with no committed offsets is new: it is first *backfilled* — the
//! topic is read from its start up to its end at that moment and folded into the
//! current membership of the partner's segments, which is delivered as entries (each at
//! the position of the record that made it) — and then it reads on from that end, so it
//! gets the current membership and then every delta, with no gap and no double entry.
//! A segment added to an existing partner's mapping (one its [`MappingMemory`] does not
//! list) is backfilled the same way, folded up to the committed offsets from which the
//! partner reads on. Nothing is committed, and the new mapping is not remembered, until
//! the backfill is delivered whole, so a crash during it starts it over.
//! A record that is not a change is counted as an error and skipped. [`KafkaTopics`]
//! produces a `kafka` partner's records and returns once the broker has them.
//!
//! The backfill reads the whole topic, so it is exact only while the topic's retention
//! still holds every change since the first; `docs/operations.md` says how to size it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use segstream_config::DeploymentConfig;
use segstream_kafka::admin::{assign_from_time, partition_count};
use segstream_kafka::REQUEST_TIMEOUT;
use segstream_model::change::decode_change;

use crate::activator::ChangeSource;
use crate::change::{Change, Position};
use crate::config::PartnerConfig;
use crate::mapping::{segments_to_backfill, MappingMemory};
use crate::pipeline::TopicSink;
use segstream_kafka::client_context::KafkaConsumer;

/// The consumer group of a partner's reader.
pub fn partner_group(config: &DeploymentConfig, partner: &str) -> String {
    format!("{}-activator-{partner}", config.kafka.group)
}

/// One partner's consumer (see the module contract).
pub struct KafkaChangeSource {
    consumer: KafkaConsumer,
    topic: String,
    /// Read through, per partition (next offsets).
    next: BTreeMap<i32, i64>,
    /// The log's end per partition, refreshed now and then, for the lag.
    high: HashMap<i32, i64>,
    high_at: Instant,
    backfill: VecDeque<Change>,
    /// While a backfill is unfinished: where it ends, and the segments the partner holds
    /// whole once it is delivered. Nothing is committed (and the segments are not
    /// remembered) before every partition's commit reaches its end, so a crash during a
    /// backfill starts it over (rather than replaying raw changes it had folded away).
    unfinished_backfill: Option<(BTreeMap<i32, i64>, BTreeSet<String>)>,
    partner: String,
    memory: Arc<dyn MappingMemory>,
    /// Records that could not be decoded.
    pub undecodable: u64,
}

impl KafkaChangeSource {
    /// Opens the partner's consumer, backfilling a new partner or the segments added to
    /// its mapping since `memory` last heard of it.
    pub fn open(config: &DeploymentConfig, partner: &PartnerConfig, memory: Arc<dyn MappingMemory>) -> Result<KafkaChangeSource, String> {
        let topic = config.topics.changes.clone();
        let consumer = segstream_kafka::consumer(config, &partner_group(config, &partner.id)).map_err(|e| e.to_string())?;
        let count = partition_count(&consumer, &topic)?;
        if count == 0 {
            return Err(format!("topic {topic} not found (segstream topics create)"));
        }
        let mut query = TopicPartitionList::new();
        for p in 0..count {
            query.add_partition(&topic, p);
        }
        let committed = consumer
            .committed_offsets(query, REQUEST_TIMEOUT)
            .map_err(|e| format!("committed offsets of {}: {e}", partner.id))?;
        let mut start: BTreeMap<i32, i64> = BTreeMap::new();
        for element in committed.elements() {
            if let Offset::Offset(o) = element.offset() {
                start.insert(element.partition(), o);
            }
        }
        let mut source = KafkaChangeSource {
            consumer,
            topic,
            next: BTreeMap::new(),
            high: HashMap::new(),
            high_at: Instant::now(),
            backfill: VecDeque::new(),
            unfinished_backfill: None,
            partner: partner.id.clone(),
            memory,
            undecodable: 0,
        };
        let configured: BTreeSet<String> = partner.segments.keys().cloned().collect();
        let to_backfill = if start.is_empty() {
            for p in 0..count {
                start.insert(p, source.watermarks(p)?.1);
            }
            configured.clone()
        } else {
            let recalled = source.memory.recall(&partner.id)?;
            let added = segments_to_backfill(recalled.as_ref(), &configured);
            if added.is_empty() && recalled.as_ref() != Some(&configured) {
                source.memory.remember(&partner.id, &configured)?;
            }
            added
        };
        if !to_backfill.is_empty() {
            source.backfill(&to_backfill, &start)?;
            source.unfinished_backfill = Some((start.clone(), configured));
        }
        let mut assignment = TopicPartitionList::new();
        for p in 0..count {
            let offset = start.get(&p).copied().unwrap_or(0);
            source.next.insert(p, offset);
            assignment
                .add_partition_offset(&source.topic, p, Offset::Offset(offset))
                .map_err(|e| e.to_string())?;
        }
        source
            .consumer
            .assign(&assignment)
            .map_err(|e| format!("assigning {}: {e}", source.topic))?;
        Ok(source)
    }

    fn watermarks(&self, p: i32) -> Result<(i64, i64), String> {
        self.consumer
            .fetch_watermarks(&self.topic, p, REQUEST_TIMEOUT)
            .map_err(|e| format!("watermarks of {}/{p}: {e}", self.topic))
    }

    /// Folds the topic up to `ends` into the current membership of `segments`, to be
    /// delivered before anything else.
    fn backfill(&mut self, segments: &BTreeSet<String>, ends: &BTreeMap<i32, i64>) -> Result<(), String> {
        let mut assignment = TopicPartitionList::new();
        for (p, end) in ends {
            let (low, _) = self.watermarks(*p)?;
            if low < *end {
                assignment
                    .add_partition_offset(&self.topic, *p, Offset::Offset(low))
                    .map_err(|e| e.to_string())?;
            }
        }
        self.consumer
            .assign(&assignment)
            .map_err(|e| format!("assigning {}: {e}", self.topic))?;
        // (user, segment) -> the latest change: (tick, entered, position).
        let mut members: HashMap<(String, String), (u64, bool, Position)> = HashMap::new();
        let mut undecodable = 0;
        read_to_ends(
            &self.consumer,
            &self.topic,
            ends,
            assignment.count(),
            |position, change| match change {
                Some((user, segment, tick, entered)) if segments.contains(&segment) => {
                    members.insert((user, segment), (tick, entered, position));
                }
                Some(_) => {}
                None => undecodable += 1,
            },
        )
        .map_err(|e| format!("backfilling {}: {e}", self.partner))?;
        self.undecodable += undecodable;
        let now = segstream_time::wall_clock_ms();
        let mut entries: Vec<Change> = members
            .into_iter()
            .filter(|(_, (_, entered, _))| *entered)
            .map(|((user, segment), (tick, entered, position))| Change {
                user,
                segment,
                tick,
                entered,
                position,
                read_at_ms: now,
            })
            .collect();
        entries.sort_by_key(|c| c.position);
        self.backfill = entries.into();
        Ok(())
    }
}

impl ChangeSource for KafkaChangeSource {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Change>, String> {
        if !self.backfill.is_empty() {
            let take = self.backfill.len().min(max);
            return Ok(self.backfill.drain(..take).collect());
        }
        let mut changes = Vec::new();
        let deadline = Instant::now() + wait;
        while changes.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = if changes.is_empty() { left } else { Duration::ZERO };
            match self.consumer.poll(timeout) {
                Some(Ok(message)) => {
                    let position = Position {
                        partition: message.partition(),
                        offset: message.offset(),
                    };
                    self.next.insert(position.partition, position.offset + 1);
                    match message.payload().map(decode_change) {
                        Some(Ok(decoded)) => changes.push(Change::read_now(decoded, position)),
                        _ => self.undecodable += 1,
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(format!("reading {}: {e}", self.topic)),
                None => break,
            }
        }
        Ok(changes)
    }

    fn read_through(&self) -> Vec<(i32, i64)> {
        if !self.backfill.is_empty() {
            return Vec::new();
        }
        self.next.iter().map(|(p, o)| (*p, *o)).collect()
    }

    fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), String> {
        if let Some((ends, segments)) = &self.unfinished_backfill {
            let committed: BTreeMap<i32, i64> = offsets.iter().copied().collect();
            if ends.iter().any(|(p, end)| committed.get(p).copied().unwrap_or(0) < *end) {
                return Ok(());
            }
            self.memory.remember(&self.partner, segments)?;
            self.unfinished_backfill = None;
        }
        let mut list = TopicPartitionList::new();
        for (p, o) in offsets {
            list.add_partition_offset(&self.topic, *p, Offset::Offset(*o))
                .map_err(|e| e.to_string())?;
        }
        self.consumer.commit(&list, CommitMode::Sync).map_err(|e| e.to_string())
    }

    fn lag(&self) -> u64 {
        self.high
            .iter()
            .map(|(p, high)| (high - self.next.get(p).copied().unwrap_or(0)).max(0) as u64)
            .sum()
    }

    fn refresh(&mut self) {
        if self.high_at.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.high_at = Instant::now();
        let partitions: Vec<i32> = self.next.keys().copied().collect();
        for p in partitions {
            if let Ok((_, high)) = self.watermarks(p) {
                self.high.insert(p, high);
            }
        }
    }
}

/// Every change of the changes topic whose record time (the change's tick) is at or
/// after `from_ms`, up to the topic's end as it is now, in partition and offset order
/// (for `activate replay --from`).
pub fn changes_since(config: &DeploymentConfig, from_ms: i64) -> Result<Vec<Change>, String> {
    let topic = &config.topics.changes;
    let consumer = segstream_kafka::consumer(config, &format!("{}-activator-replay", config.kafka.group)).map_err(|e| e.to_string())?;
    let (ends, assigned) = assign_from_time(&consumer, topic, from_ms)?;
    let mut changes = Vec::new();
    read_to_ends(&consumer, topic, &ends, assigned, |position, change| {
        changes.extend(change.map(|decoded| Change::read_now(decoded, position)));
    })?;
    Ok(changes)
}

/// Reads the `assigned` partitions of `topic` up to `ends` (exclusive), handing each
/// record's position and its change (`None` if it is not one) to `visit`; gives up
/// after 10 minutes.
fn read_to_ends(
    consumer: &KafkaConsumer,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    assigned: usize,
    mut visit: impl FnMut(Position, Option<(String, String, u64, bool)>),
) -> Result<(), String> {
    let mut remaining = assigned;
    let deadline = Instant::now() + Duration::from_secs(600);
    while remaining > 0 {
        if Instant::now() > deadline {
            return Err(format!("reading {topic} took over 10 minutes"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                let end = ends.get(&partition).copied().unwrap_or(0);
                if offset >= end {
                    continue;
                }
                visit(
                    Position { partition, offset },
                    message.payload().map(decode_change).and_then(Result::ok),
                );
                if offset + 1 >= end {
                    remaining -= 1;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
        }
    }
    Ok(())
}

/// The producer of `kafka` partners.
pub struct KafkaTopics {
    producer: rdkafka::producer::BaseProducer,
}

impl KafkaTopics {
    /// An idempotent producer for the deployment's broker.
    pub fn new(config: &DeploymentConfig) -> Result<KafkaTopics, String> {
        Ok(KafkaTopics {
            producer: segstream_kafka::producer(config).map_err(|e| format!("kafka producer: {e}"))?,
        })
    }
}

impl TopicSink for KafkaTopics {
    fn produce(&self, topic: &str, records: &[(String, String)]) -> Result<(), String> {
        for (key, payload) in records {
            segstream_kafka::send_waiting(&self.producer, BaseRecord::to(topic).key(key).payload(payload))
                .map_err(|e| format!("producing to {topic}: {e}"))?;
        }
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(|e| format!("{topic}: not acknowledged: {e}"))
    }
}
