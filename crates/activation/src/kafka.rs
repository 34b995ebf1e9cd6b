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

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
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

/// The consumer group of a partner's reader.
pub fn partner_group(config: &DeploymentConfig, partner: &str) -> String {
    format!("{}-activator-{partner}", config.kafka.group)
}

/// One partner's consumer (see the module contract).
pub struct KafkaChangeSource {
    consumer: BaseConsumer,
    topic: String,
    /// Read through, per partition (next offsets).
    next: BTreeMap<i32, i64>,
    /// The log's end per partition, refreshed now and then, for the lag.
    high: HashMap<i32, i64>,
    high_at: Instant,
    backfill: VecDeque<Change>,
    /// While a backfill is unfinished: where it ends. Nothing is committed before every
    /// partition's commit reaches its end, so a crash during a backfill starts it over
    /// (rather than replaying raw changes the backfill had folded away).
    backfill_ends: Option<BTreeMap<i32, i64>>,
    /// The partner's id and the segments it holds whole once the backfill is delivered.
    partner: String,
    mapping_after_backfill: Option<BTreeSet<String>>,
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
            backfill_ends: None,
            partner: partner.id.clone(),
            mapping_after_backfill: None,
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
            source.backfill_ends = Some(start.clone());
            source.mapping_after_backfill = Some(configured);
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
        let mut remaining = assignment.count();
        let deadline = Instant::now() + Duration::from_secs(600);
        while remaining > 0 {
            if Instant::now() > deadline {
                return Err(format!("backfilling {}: reading {} took over 10 minutes", self.partner, self.topic));
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let p = message.partition();
                    let end = ends.get(&p).copied().unwrap_or(0);
                    if message.offset() >= end {
                        continue;
                    }
                    match message.payload().map(decode_change) {
                        Some(Ok((user, segment, tick, entered))) if segments.contains(&segment) => {
                            let position = Position {
                                partition: p,
                                offset: message.offset(),
                            };
                            members.insert((user, segment), (tick, entered, position));
                        }
                        Some(Ok(_)) => {}
                        _ => self.undecodable += 1,
                    }
                    if message.offset() + 1 >= end {
                        remaining -= 1;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => return Err(format!("backfilling {}: {e}", self.partner)),
            }
        }
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
                        Some(Ok((user, segment, tick, entered))) => changes.push(Change {
                            user,
                            segment,
                            tick,
                            entered,
                            position,
                            read_at_ms: segstream_time::wall_clock_ms(),
                        }),
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
        if let Some(ends) = &self.backfill_ends {
            let committed: BTreeMap<i32, i64> = offsets.iter().copied().collect();
            if ends.iter().any(|(p, end)| committed.get(p).copied().unwrap_or(0) < *end) {
                return Ok(());
            }
            if let Some(mapping) = &self.mapping_after_backfill {
                self.memory.remember(&self.partner, mapping)?;
            }
            self.backfill_ends = None;
            self.mapping_after_backfill = None;
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
    let (ends, mut remaining) = assign_from_time(&consumer, topic, from_ms)?;
    let mut changes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while remaining > 0 && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let (p, offset) = (message.partition(), message.offset());
                let end = ends.get(&p).copied().unwrap_or(0);
                if offset >= end {
                    continue;
                }
                if let Some(Ok((user, segment, tick, entered))) = message.payload().map(decode_change) {
                    changes.push(Change {
                        user,
                        segment,
                        tick,
                        entered,
                        position: Position { partition: p, offset },
                        read_at_ms: segstream_time::wall_clock_ms(),
                    });
                }
                if offset + 1 >= end {
                    remaining -= 1;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
        }
    }
    if remaining > 0 {
        return Err(format!("reading {topic} took over 10 minutes"));
    }
    Ok(changes)
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
