//! The context of segstream's consumers: a consumer's errors are reported once, by its
//! polls.
//!
//! Contract: librdkafka hands every error event of a consumer both to the client
//! context's `error` callback and, as a `KafkaError`, to the `poll` that meets it
//! (rdkafka 0.39, `Client::poll_event`). segstream's pollers act on what their polls
//! return and log it with its origin, once per streak of failures (partition ends,
//! which segstream's consumers ask for, are not failures at all). So
//! [`ErrorsViaPoll`] only traces the callback's copy at `debug`; rdkafka's default
//! context logged each at `error`, every time, partition ends included. librdkafka's
//! own log records are forwarded as by the default context (target `librdkafka`).
//!
//! ```
//! use rdkafka::client::ClientContext;
//! use rdkafka::error::KafkaError;
//! use rdkafka::types::RDKafkaErrorCode;
//! use segstream_kafka::client_context::ErrorsViaPoll;
//! // Traced at debug, not logged as an error: the poll that meets it reports it.
//! ErrorsViaPoll.error(KafkaError::Global(RDKafkaErrorCode::PartitionEOF), "end of partition");
//! ```

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;

/// A consumer of segstream's (see the module contract).
pub type KafkaConsumer = BaseConsumer<ErrorsViaPoll>;

/// The context of segstream's consumers (see the module contract).
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorsViaPoll;

impl ClientContext for ErrorsViaPoll {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", error = %error, "{reason} (reported by the consumer's poll)");
    }
}

impl ConsumerContext for ErrorsViaPoll {}
