//! segstream-kafka: the Kafka connectors of the distributed deployment (librdkafka
//! through `rdkafka`): the classifier's event source, its side inputs (rules, profiles,
//! stats), the durable change sink, progress records, dead letters and topic admin.
//!
//! Contract: every client is built from the deployment configuration
//! ([`segstream_config::DeploymentConfig::client_config`]), so TLS and SASL options reach
//! all of them. Consumers never use group rebalancing: partitions are assigned by hand
//! (partition `p` belongs to global worker `p % workers`) and offsets are committed
//! under the configured group only for monitoring and restarts. Producers are
//! idempotent and retry without a deadline, so a broker outage delays output but never
//! drops it. Only standard Kafka APIs are used (produce, fetch, metadata, list offsets
//! by time, offset commit/fetch, create topics), so Apache Kafka, Redpanda and tansu
//! all serve.
#![deny(missing_docs)]

pub mod admin;
pub mod changes;
pub mod client_context;
pub mod dead_letter;
pub mod event_source;
pub mod offsets;
pub mod progress;
pub mod records;
pub mod rules_topic;
pub mod side_inputs;
pub mod writer_thread;

use std::time::Duration;

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::BaseRecord;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseProducer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use segstream_config::DeploymentConfig;

use client_context::{ErrorsViaPoll, KafkaConsumer};

/// How long a blocking metadata or offsets request may take while running (periodic
/// partition discovery: a slow answer is skipped and asked again later).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long such a request may take at start. A broker under load can queue a
/// metadata request behind a backlog of produce requests for longer than
/// [`REQUEST_TIMEOUT`] (the soak saw tansu do so), and failing a start for it would
/// only restart the process into the same wait.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// librdkafka defaults tuned for seconds-level latency, unless `[kafka.options]` sets them.
const LOW_LATENCY_DEFAULTS: [(&str, &str); 1] = [
    // The broker answers a fetch at once rather than waiting up to 500 ms for data.
    ("fetch.wait.max.ms", "10"),
];

/// A consumer for hand-assigned partitions: no auto-commit, partition EOF reported
/// (by its polls, not also to the log: [`client_context::ErrorsViaPoll`]).
pub fn consumer(config: &DeploymentConfig, group: &str) -> KafkaResult<KafkaConsumer> {
    let mut client = config.client_config();
    for (key, value) in LOW_LATENCY_DEFAULTS {
        if !config.kafka.options.contains_key(key) {
            client.set(key, value);
        }
    }
    client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create_with_context(ErrorsViaPoll)
}

fn producer_config(config: &DeploymentConfig) -> rdkafka::ClientConfig {
    let mut client = config.client_config();
    client
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5");
    client
}

/// Queues `record`, polling the producer while its queue is full (backpressure), so a
/// burst waits rather than fails. Other errors are returned.
pub fn send_waiting<K, P>(producer: &BaseProducer, mut record: BaseRecord<'_, K, P>) -> KafkaResult<()>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                producer.poll(Duration::from_millis(1));
                record = returned;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// An idempotent producer polled by its owner.
pub fn producer(config: &DeploymentConfig) -> KafkaResult<BaseProducer> {
    producer_config(config).create()
}

/// An idempotent producer with its own polling thread, shareable between workers.
pub fn threaded_producer(config: &DeploymentConfig) -> KafkaResult<ThreadedProducer<DefaultProducerContext>> {
    producer_config(config).create()
}
