//! The dead-letter topic: records that could not be used, with the reason.
//!
//! Contract: [`DeadLetters::send`] queues a record describing the bad message (its
//! topic, partition, offset, reason and payload, the payload cut at
//! [`PAYLOAD_LIMIT`] bytes so the letter always fits a Kafka message) on its own
//! idempotent producer, keeping the original key. Nothing is fire-and-forget:
//! - every letter is *outstanding* from `send` until the broker acknowledges it;
//!   [`DeadLetters::holding`] is the lowest outstanding offset of a source partition,
//!   and a consumer never commits past it, so a crash before the acknowledgement reads
//!   the bad record again and letters it again;
//! - a letter that fails for good (refused at queueing, or a delivery error) stays
//!   outstanding for the life of the process — it holds its partition's commits, so a
//!   restart retries it — and is counted in [`DeadLetterCounts::failed`] and logged
//!   with its origin;
//! - while the producer's queue is full, `send` waits for room (backpressure on the
//!   worker), rather than dropping the letter.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use segstream_config::DeploymentConfig;

use super::records::dead_letter_json;

/// The most payload bytes a dead letter carries (the rest is cut, and the letter says so).
pub const PAYLOAD_LIMIT: usize = 256 * 1024;

/// How long `send` waits between tries while the producer's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

/// Where a bad record came from.
pub struct Origin<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its payload.
    pub payload: Option<&'a [u8]>,
}

impl<'a> Origin<'a> {
    /// Where `message` came from.
    pub fn of(message: &'a impl rdkafka::Message) -> Origin<'a> {
        Origin {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload(),
        }
    }
}

/// Counts of dead letters.
#[derive(Debug, Default)]
pub struct DeadLetterCounts {
    /// Queued on the producer.
    pub queued: AtomicU64,
    /// Acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Failed for good (each holds its partition's commits until a restart).
    pub failed: AtomicU64,
}

/// A source partition.
type SourcePartition = (String, i32);

/// Letters not yet acknowledged, by source partition: offset → how many letters.
#[derive(Debug, Default)]
struct Outstanding {
    by_partition: HashMap<SourcePartition, BTreeMap<i64, u32>>,
}

impl Outstanding {
    fn add(&mut self, partition: SourcePartition, offset: i64) {
        *self.by_partition.entry(partition).or_default().entry(offset).or_default() += 1;
    }

    fn remove(&mut self, partition: &SourcePartition, offset: i64) {
        let Some(offsets) = self.by_partition.get_mut(partition) else {
            return;
        };
        if let Some(count) = offsets.get_mut(&offset) {
            *count -= 1;
            if *count == 0 {
                offsets.remove(&offset);
            }
        }
        if offsets.is_empty() {
            self.by_partition.remove(partition);
        }
    }

    fn lowest(&self, partition: &SourcePartition) -> Option<i64> {
        self.by_partition.get(partition).and_then(|o| o.keys().next().copied())
    }
}

/// What the producer's delivery callback shares with the senders.
#[derive(Debug, Default)]
struct Shared {
    outstanding: Mutex<Outstanding>,
    counts: DeadLetterCounts,
}

impl Shared {
    fn outstanding(&self) -> MutexGuard<'_, Outstanding> {
        self.outstanding.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn failed(&self, (topic, partition): (&str, i32), offset: i64, error: &dyn std::fmt::Display) {
        let failed = self.counts.failed.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            topic,
            partition,
            offset,
            error = %error,
            failed,
            "dead-letter: the letter failed; its partition's offsets are held until a restart retries it"
        );
    }
}

/// The delivery callback: acknowledgements release an offset, failures keep it.
struct Context(Arc<Shared>);

impl ClientContext for Context {}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<(SourcePartition, i64)>;

    fn delivery(&self, result: &DeliveryResult<'_>, origin: Self::DeliveryOpaque) {
        let (partition, offset) = *origin;
        match result {
            Ok(_) => {
                self.0.counts.delivered.fetch_add(1, Ordering::Relaxed);
                self.0.outstanding().remove(&partition, offset);
            }
            Err((error, _)) => self.0.failed((&partition.0, partition.1), offset, error),
        }
    }
}

/// Where bad records go.
#[derive(Clone)]
pub struct DeadLetters {
    producer: Arc<ThreadedProducer<Context>>,
    topic: String,
    shared: Arc<Shared>,
}

impl DeadLetters {
    /// Dead letters to `topic`, on an idempotent producer of the deployment's Kafka.
    pub fn connect(config: &DeploymentConfig, topic: &str) -> Result<DeadLetters, KafkaError> {
        DeadLetters::with_client(super::producer_config(config), topic)
    }

    /// Dead letters to `topic` through a producer made from `client`.
    pub fn with_client(client: rdkafka::ClientConfig, topic: &str) -> Result<DeadLetters, KafkaError> {
        let shared = Arc::new(Shared::default());
        let producer = client.create_with_context(Context(Arc::clone(&shared)))?;
        Ok(DeadLetters {
            producer: Arc::new(producer),
            topic: topic.to_string(),
            shared,
        })
    }

    /// Queues a dead letter for `origin` (see the module contract).
    pub fn send(&self, origin: &Origin<'_>, reason: &str, now_ms: u64) {
        let payload = origin.payload.map(|p| &p[..p.len().min(PAYLOAD_LIMIT)]);
        let reason = match origin.payload {
            Some(p) if p.len() > PAYLOAD_LIMIT => format!("{reason} (payload of {} bytes cut to {PAYLOAD_LIMIT})", p.len()),
            _ => reason.to_string(),
        };
        tracing::debug!(
            topic = origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            reason = %reason,
            "record dead-lettered"
        );
        let value = dead_letter_json(origin.topic, origin.partition, origin.offset, &reason, payload, now_ms).to_string();
        let partition = (origin.topic.to_string(), origin.partition);
        self.shared.outstanding().add(partition.clone(), origin.offset);
        let mut record = BaseRecord::with_opaque_to(&self.topic, Box::new((partition, origin.offset)))
            .key(origin.key.unwrap_or_default())
            .payload(&value);
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.shared.counts.queued.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), again)) => {
                    record = again;
                    std::thread::sleep(QUEUE_FULL_WAIT);
                }
                Err((error, _)) => {
                    self.shared.failed((origin.topic, origin.partition), origin.offset, &error);
                    return;
                }
            }
        }
    }

    /// The lowest offset of `topic`/`partition` whose dead letter is not acknowledged:
    /// a consumer must not commit past it.
    pub fn holding(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared.outstanding().lowest(&(topic.to_string(), partition))
    }

    /// `offset`, or the lowest unacknowledged dead letter's offset of `topic`/`partition`
    /// if that is earlier: how far a consumer may commit (the one place that rule lives).
    pub fn commit_bound(&self, topic: &str, partition: i32, offset: i64) -> i64 {
        self.holding(topic, partition).map_or(offset, |held| offset.min(held))
    }

    /// The counts so far.
    pub fn counts(&self) -> &DeadLetterCounts {
        &self.shared.counts
    }

    /// Dead letters queued so far.
    pub fn sent(&self) -> u64 {
        self.shared.counts.queued.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for every queued letter to be acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outstanding_offsets_hold_until_each_letter_is_released() {
        let mut outstanding = Outstanding::default();
        let p = ("events".to_string(), 3);
        outstanding.add(p.clone(), 40);
        outstanding.add(p.clone(), 12);
        outstanding.add(p.clone(), 12);
        assert_eq!(outstanding.lowest(&p), Some(12));
        outstanding.remove(&p, 12);
        assert_eq!(outstanding.lowest(&p), Some(12), "a second letter of offset 12 is still out");
        outstanding.remove(&p, 12);
        assert_eq!(outstanding.lowest(&p), Some(40));
        outstanding.remove(&p, 40);
        assert_eq!(outstanding.lowest(&p), None);
        assert!(outstanding.by_partition.is_empty(), "nothing kept for a released partition");
    }

    #[test]
    fn a_letter_refused_at_queueing_is_counted_and_holds_its_offset() {
        // A producer that refuses anything over 1,000 bytes: the refusal is local, no broker needed.
        let mut client = rdkafka::ClientConfig::new();
        client
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("message.max.bytes", "1000")
            .set("enable.idempotence", "true");
        let letters = DeadLetters::with_client(client, "dead-letter").unwrap();
        let payload = vec![b'x'; 4_000];
        let origin = Origin {
            topic: "events",
            partition: 2,
            offset: 77,
            key: Some(b"u1"),
            payload: Some(&payload),
        };
        letters.send(&origin, "bad JSON", 0);
        assert_eq!(letters.counts().failed.load(Ordering::Relaxed), 1);
        assert_eq!(letters.sent(), 0);
        assert_eq!(letters.holding("events", 2), Some(77), "the failed letter holds its offset");
        assert_eq!(letters.holding("events", 1), None);
    }
}
