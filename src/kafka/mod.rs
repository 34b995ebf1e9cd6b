//! Kafka connectors of the distributed classifier (librdkafka through `rdkafka`).
//!
//! Contract: every client is built from the deployment configuration
//! ([`crate::config::DeploymentConfig::client_config`]), so TLS and SASL options reach
//! all of them. Consumers never use group rebalancing: partitions are assigned by hand
//! (partition `p` belongs to global worker `p % workers`) and offsets are committed
//! under the configured group only for monitoring and restarts. Producers are
//! idempotent and retry without a deadline, so a broker outage delays output but never
//! drops it. Only standard Kafka APIs are used (produce, fetch, metadata, list offsets
//! by time, offset commit/fetch, create topics), so Apache Kafka, Redpanda and tansu
//! all serve.

pub mod admin;
pub mod changes;
pub mod dead_letter;
pub mod event_source;
pub mod offsets;
pub mod progress;
pub mod records;
pub mod side_inputs;

use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaResult;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseProducer, ThreadedProducer};

use crate::config::DeploymentConfig;

/// How long a blocking metadata or offsets request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer for hand-assigned partitions: no auto-commit, partition EOF reported.
pub fn consumer(config: &DeploymentConfig, group: &str) -> KafkaResult<BaseConsumer> {
    config
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create()
}

fn producer_config(config: &DeploymentConfig) -> rdkafka::ClientConfig {
    let mut client = config.client_config();
    client
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5");
    client
}

/// An idempotent producer polled by its owner.
pub fn producer(config: &DeploymentConfig) -> KafkaResult<BaseProducer> {
    producer_config(config).create()
}

/// An idempotent producer with its own polling thread, shareable between workers.
pub fn threaded_producer(config: &DeploymentConfig) -> KafkaResult<ThreadedProducer<DefaultProducerContext>> {
    producer_config(config).create()
}
