//! The classifier's durable frontier, kept in a compacted topic for restarts.
//!
//! Contract: [`read_partition`] reads one partition from its beginning to its end as
//! it was when called. [`read_frontier`] reads the progress topic to its end and returns the last
//! frontier recorded for the group (0 when there is none: a first start). Global
//! worker 0 calls [`ProgressWriter::maybe_write`] after each step; it records the
//! durable frontier (every change before it is in `segment-changes` and in the profile
//! store) at most once a second and only when it advanced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::records::{decode_progress, progress_json};
use super::REQUEST_TIMEOUT;
use segstream_config::DeploymentConfig;

/// How often the frontier is recorded.
const INTERVAL: Duration = Duration::from_secs(1);

/// The last durable frontier recorded for the configured group.
pub fn read_frontier(config: &DeploymentConfig) -> Result<u64, String> {
    let mut frontier = 0;
    read_partition(config, &config.topics.progress, 0, |message| {
        if message.key() == Some(config.kafka.group.as_bytes()) {
            if let Some(value) = message.payload().and_then(|p| decode_progress(p).ok()) {
                frontier = value;
            }
        }
    })?;
    Ok(frontier)
}

/// Calls `each` on every record of one partition, from its beginning to its end at the time of the call.
pub fn read_partition(
    config: &DeploymentConfig,
    topic: &str,
    partition: i32,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), String> {
    let consumer = super::consumer(config, &format!("{}-reader", config.kafka.group)).map_err(|e| e.to_string())?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
        .map_err(|e| format!("topic {topic}: {e}"))?;
    if high <= low {
        return Ok(());
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + REQUEST_TIMEOUT * 6;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                each(&message);
                if message.offset() + 1 >= high {
                    return Ok(());
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(()),
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
            None => {}
        }
    }
    Err(format!("reading {topic}: timed out"))
}

/// Records the durable frontier (global worker 0 only).
pub struct ProgressWriter {
    producer: Arc<ThreadedProducer<DefaultProducerContext>>,
    topic: String,
    group: String,
    written: u64,
    last: Instant,
}

impl ProgressWriter {
    /// A writer starting from the frontier read at start.
    pub fn new(producer: Arc<ThreadedProducer<DefaultProducerContext>>, config: &DeploymentConfig, start: u64) -> ProgressWriter {
        ProgressWriter {
            producer,
            topic: config.topics.progress.clone(),
            group: config.kafka.group.clone(),
            written: start,
            last: Instant::now(),
        }
    }

    /// Records `durable` if it advanced and a second has passed.
    pub fn maybe_write(&mut self, durable: u64, now_ms: u64) {
        if self.last.elapsed() >= INTERVAL {
            self.force_write(durable, now_ms);
        }
    }

    /// Records `durable` now if it advanced (before a planned stop).
    pub fn force_write(&mut self, durable: u64, now_ms: u64) {
        if durable <= self.written || durable == u64::MAX {
            return;
        }
        let value = progress_json(&self.group, durable, now_ms).to_string();
        match self.producer.send(BaseRecord::to(&self.topic).key(&self.group).payload(&value)) {
            Ok(()) => {
                self.written = durable;
                self.last = Instant::now();
            }
            Err((e, _)) => {
                // Tried again after the interval, not at every call.
                self.last = Instant::now();
                tracing::warn!(topic = %self.topic, error = %e, "progress: could not queue the frontier");
            }
        }
    }
}
