//! The classifier's outputs: `segment-changes` and the profile store, exactly once.
//!
//! Contract: [`ChangeSink`] is the [`DurableWriter`] behind the durable sink operator.
//! Each complete tick's membership updates become changes and go to two writer threads:
//! one produces them to `segment-changes` (key = user, Kafka timestamp = the change's
//! tick, idempotent producer, flushed before it reports), the other hands them to the
//! profile store's writer the caller gives (in the deployment, `segstream-redis`'s,
//! retried while Redis is down); each writer returns only once its batch is durable. A
//! tick is durable when both have written it. After a restart, [`Suppression`] keeps the replay from emitting anything
//! twice: changes before the recorded durable frontier are dropped for both outputs;
//! changes at or after it that `segment-changes` already holds (read back by
//! [`Suppression::load`]) are dropped for Kafka, and re-applied (idempotently) to the profile store.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Message;
use segstream_dataflows::operators::durable_sink::DurableWriter;

use super::admin::assign_from_time;
use crate::writer_thread::WriterThread;
use segstream_config::DeploymentConfig;
use segstream_model::change::{change_json, decode_change, ChangeKey};

/// What a restarted classifier must not emit again.
#[derive(Debug, Default)]
pub struct Suppression {
    /// Changes before this tick were all emitted before the restart.
    pub before: u64,
    /// Changes at or after `before` already in `segment-changes`.
    pub already: Mutex<HashSet<ChangeKey>>,
}

impl Suppression {
    /// Reads back the changes at or after `before` from `segment-changes`.
    pub fn load(config: &DeploymentConfig, before: u64) -> Result<Suppression, String> {
        let mut already = HashSet::new();
        if before > 0 {
            let topic = &config.topics.changes;
            let consumer = super::consumer(config, &format!("{}-suppression", config.kafka.group)).map_err(|e| e.to_string())?;
            let (_, mut remaining) = assign_from_time(&consumer, topic, before as i64)?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while remaining > 0 {
                if Instant::now() > deadline {
                    return Err(format!("reading back {topic}: timed out"));
                }
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        if let Some(change) = message.payload().and_then(|p| decode_change(p).ok()) {
                            if change.2 >= before {
                                already.insert(change);
                            }
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => remaining -= 1,
                    Some(Err(e)) => return Err(format!("reading back {topic}: {e}")),
                    None => {}
                }
            }
        }
        Ok(Suppression {
            before,
            already: Mutex::new(already),
        })
    }

    /// Whether `segment-changes` must not get this change again.
    fn emitted(&self, change: &ChangeKey) -> bool {
        change.2 < self.before || self.already.lock().is_ok_and(|mut set| set.remove(change))
    }
}

/// The durable writer of one worker (see the module contract).
pub struct ChangeSink {
    kafka: WriterThread<ChangeKey>,
    store: WriterThread<ChangeKey>,
    suppression: Arc<Suppression>,
}

impl ChangeSink {
    /// Starts the writer threads of worker `worker`; `store` writes changes to the profile store.
    pub fn start(
        config: &DeploymentConfig,
        worker: usize,
        suppression: Arc<Suppression>,
        store: impl FnMut(&[ChangeKey]) + Send + 'static,
    ) -> Result<ChangeSink, String> {
        let producer = super::producer(config).map_err(|e| format!("kafka producer: {e}"))?;
        let topic = config.topics.changes.clone();
        let kafka = WriterThread::spawn(&format!("changes-kafka-{worker}"), move |changes: &[ChangeKey]| {
            produce_changes(&producer, &topic, changes)
        })
        .map_err(|e| e.to_string())?;
        let store = WriterThread::spawn(&format!("changes-store-{worker}"), store).map_err(|e| e.to_string())?;
        Ok(ChangeSink { kafka, store, suppression })
    }
}

fn produce_changes(producer: &rdkafka::producer::BaseProducer, topic: &str, changes: &[ChangeKey]) {
    let now = segstream_time::wall_clock_ms();
    let mut refused = 0u64;
    for (user, segment, tick, entered) in changes {
        let payload = change_json(user, segment, *tick, *entered, now).to_string();
        let record = BaseRecord::to(topic).key(user).payload(&payload).timestamp(*tick as i64);
        if let Err(e) = super::send_waiting(producer, record) {
            // Once per tick, with the first change refused: a producer that refuses one
            // usually refuses them all.
            if refused == 0 {
                tracing::error!(topic, user = %user, segment = %segment, tick = *tick, error = %e, "segment-changes: cannot produce a change");
            }
            refused += 1;
        }
    }
    if refused > 1 {
        tracing::error!(topic, refused, "segment-changes: changes of this tick not produced");
    }
    // Idempotent, retried without a deadline: flush returns once the broker has them.
    let mut reported = false;
    while let Err(e) = producer.flush(Duration::from_secs(1)) {
        if !reported {
            tracing::warn!(topic, error = %e, "segment-changes: waiting for the broker");
            reported = true;
        }
    }
}

impl DurableWriter<(String, String)> for ChangeSink {
    fn submit(&mut self, tick: u64, updates: Vec<((String, String), isize)>) {
        let changes: Vec<ChangeKey> = updates
            .into_iter()
            .filter(|(_, diff)| *diff != 0)
            .map(|((user, segment), diff)| (user, segment, tick, diff > 0))
            .filter(|change| change.2 >= self.suppression.before)
            .collect();
        let fresh: Vec<ChangeKey> = changes.iter().filter(|c| !self.suppression.emitted(c)).cloned().collect();
        for (writer, name, items) in [(&self.kafka, "segment-changes", fresh), (&self.store, "profile store", changes)] {
            if let Err(e) = writer.send(tick, items) {
                tracing::error!(tick, writer = name, error = %e, "classifier output: a writer refused a tick");
            }
        }
    }

    fn durable_through(&self) -> Option<u64> {
        Some(self.kafka.durable_through()?.min(self.store.durable_through()?))
    }
}
