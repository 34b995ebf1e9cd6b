//! The dead-letter topic: records that could not be used, with the reason.
//!
//! Contract: [`DeadLetters::send`] queues a record describing the bad message (its
//! topic, partition, offset, reason and payload) on a shared idempotent producer and
//! returns at once; it never blocks a worker. The original key is kept. A record the
//! producer cannot even queue is counted and logged, never panicked on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};

use super::records::dead_letter_json;

/// Where bad records go.
#[derive(Clone)]
pub struct DeadLetters {
    producer: Arc<ThreadedProducer<DefaultProducerContext>>,
    topic: String,
    sent: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
}

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

impl DeadLetters {
    /// Dead letters to `topic` through `producer`.
    pub fn new(producer: Arc<ThreadedProducer<DefaultProducerContext>>, topic: &str) -> DeadLetters {
        DeadLetters {
            producer,
            topic: topic.to_string(),
            sent: Arc::new(AtomicU64::new(0)),
            lost: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues a dead letter for `origin`.
    pub fn send(&self, origin: &Origin<'_>, reason: &str, now_ms: u64) {
        let value = dead_letter_json(origin.topic, origin.partition, origin.offset, reason, origin.payload, now_ms).to_string();
        let key = origin.key.unwrap_or_default();
        match self.producer.send(BaseRecord::to(&self.topic).key(key).payload(&value)) {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "dead-letter: could not queue a record for {}/{}@{}: {e}",
                    origin.topic, origin.partition, origin.offset
                );
            }
        }
    }

    /// Dead letters queued so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}
