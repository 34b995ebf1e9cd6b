//! The context of segstream's consumers: what librdkafka reports on its own goes to the
//! log once.
//!
//! Contract: [`Logged`] forwards librdkafka's log records as rdkafka's default context
//! does (target `librdkafka`), and logs each global error at `error` with its reason,
//! except the end of a partition: segstream's consumers ask for partition ends
//! (`enable.partition.eof`), their polls return them as `KafkaError::PartitionEOF` and
//! the pollers act on them, so the default callback's "librdkafka: Local: Broker: No
//! more messages" at `error` for every caught-up partition was noise, not a problem.
//!
//! ```
//! use rdkafka::client::ClientContext;
//! use rdkafka::error::KafkaError;
//! use rdkafka::types::RDKafkaErrorCode;
//! use segstream_kafka::client_context::{is_noise, Logged};
//! assert!(is_noise(&KafkaError::Global(RDKafkaErrorCode::PartitionEOF)));
//! assert!(!is_noise(&KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)));
//! Logged.error(KafkaError::Global(RDKafkaErrorCode::PartitionEOF), "ignored");
//! ```

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// A consumer of segstream's (see the module contract).
pub type KafkaConsumer = BaseConsumer<Logged>;

/// The context of segstream's consumers (see the module contract).
#[derive(Clone, Copy, Debug, Default)]
pub struct Logged;

/// Whether a global error is an expected event rather than a problem.
pub fn is_noise(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::Global(RDKafkaErrorCode::PartitionEOF) | KafkaError::PartitionEOF(_)
    )
}

impl ClientContext for Logged {
    fn error(&self, error: KafkaError, reason: &str) {
        if !is_noise(&error) {
            tracing::error!(target: "librdkafka", error = %error, "{reason}");
        }
    }
}

impl ConsumerContext for Logged {}
