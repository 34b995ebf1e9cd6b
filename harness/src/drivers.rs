//! Drivers: how generated events reach the system under test.
//!
//! Contract: a [`Driver`] sends one batch of event lines (segstream JSON) and says how
//! many were accepted and rejected, or why the batch failed. [`HttpDriver`] posts them
//! as a Segment `batch` to a collector (`/v1/batch`), over one keep-alive connection;
//! a record that is not JSON is posted alone, as a broken client would send it; the
//! collector's reply names the `received_at` it stamped, which the correctness check uses.
//! [`KafkaDriver`] produces them to the events topic keyed by user, waiting for the
//! broker's acknowledgements. Each sender thread owns its driver.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{json, Value};

use crate::http_client::Connection;
use segstream_ingest::segment::to_segment;
use segstream_model::event::user_of;

/// What happened to one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Events the system acknowledged.
    pub accepted: u64,
    /// Events it refused (invalid).
    pub rejected: u64,
    /// Events lost to an error (not acknowledged: a client would retry them).
    pub failed: u64,
    /// The error, if any.
    pub error: Option<String>,
    /// The `received_at` (ms) the system stamped on the accepted events, when it says
    /// (a collector does; a broker keeps the line's own).
    pub received_at_ms: Option<u64>,
}

/// A way to send events (see the module contract).
pub trait Driver: Send {
    /// Sends `lines`.
    fn send(&mut self, lines: &[String]) -> Sent;
}

/// Posts Segment batches to one collector.
pub struct HttpDriver {
    connection: Connection,
}

impl HttpDriver {
    /// A driver for the collector at `address` (`host:port`) with `write_key`.
    pub fn new(address: &str, write_key: &str) -> HttpDriver {
        HttpDriver {
            connection: Connection::new(address, write_key),
        }
    }

    fn post(&mut self, body: &[u8], events: u64, sent: &mut Sent) {
        match self.connection.post("/v1/batch", body) {
            Ok((200, answer)) | Ok((400, answer)) => {
                let reply: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
                let accepted = reply["accepted"].as_u64().unwrap_or(0);
                sent.accepted += accepted;
                sent.rejected += events.saturating_sub(accepted);
                sent.received_at_ms = reply["received_at"].as_u64().or(sent.received_at_ms);
            }
            Ok((status, answer)) => {
                sent.failed += events;
                sent.error = Some(format!("HTTP {status}: {}", answer.chars().take(200).collect::<String>()));
            }
            Err(e) => {
                sent.failed += events;
                sent.error = Some(e.to_string());
            }
        }
    }
}

impl Driver for HttpDriver {
    fn send(&mut self, lines: &[String]) -> Sent {
        let mut sent = Sent::default();
        let mut messages = Vec::with_capacity(lines.len());
        for line in lines {
            match to_segment(line) {
                Some(message) => messages.push(message),
                None => self.post(line.as_bytes(), 1, &mut sent),
            }
        }
        if !messages.is_empty() {
            let count = messages.len() as u64;
            let body = json!({ "batch": messages }).to_string();
            self.post(body.as_bytes(), count, &mut sent);
        }
        sent
    }
}

/// Produces event lines to the events topic.
pub struct KafkaDriver {
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
}

impl KafkaDriver {
    /// A producer to `topic` on `brokers`.
    pub fn new(brokers: &str, topic: &str) -> Result<KafkaDriver, String> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .map_err(|e| format!("kafka producer: {e}"))?;
        Ok(KafkaDriver {
            producer,
            topic: topic.to_string(),
        })
    }
}

impl Driver for KafkaDriver {
    fn send(&mut self, lines: &[String]) -> Sent {
        let mut sent = Sent::default();
        for line in lines {
            let key = user_of(line);
            if let Err((e, _)) = self.producer.send(BaseRecord::to(&self.topic).key(&key).payload(line)) {
                sent.failed += 1;
                sent.error = Some(e.to_string());
            }
        }
        match self.producer.flush(Duration::from_secs(30)) {
            Ok(()) => sent.accepted += lines.len() as u64 - sent.failed,
            Err(e) => {
                sent.failed = lines.len() as u64;
                sent.error = Some(format!("not acknowledged: {e}"));
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_user() {
        assert_eq!(user_of(r#"{"user":"u7"}"#), "u7");
        assert_eq!(user_of("{\"user\": "), "");
    }
}
