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
    /// Which lines of the batch those are (indices). A batch can go out in several
    /// requests (a line that is not a Segment message goes alone), and only the lines
    /// of a request that was answered are acknowledged.
    pub failed_lines: Vec<usize>,
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

    /// Posts one request of `lines` (indices into the batch).
    fn post(&mut self, body: &[u8], lines: &[usize], sent: &mut Sent) {
        let events = lines.len() as u64;
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
                sent.failed_lines.extend_from_slice(lines);
                sent.error = Some(format!("HTTP {status}: {}", answer.chars().take(200).collect::<String>()));
            }
            Err(e) => {
                sent.failed += events;
                sent.failed_lines.extend_from_slice(lines);
                sent.error = Some(e.to_string());
            }
        }
    }
}

impl Driver for HttpDriver {
    fn send(&mut self, lines: &[String]) -> Sent {
        let mut sent = Sent::default();
        let (mut messages, mut in_batch) = (Vec::with_capacity(lines.len()), Vec::with_capacity(lines.len()));
        for (index, line) in lines.iter().enumerate() {
            match to_segment(line) {
                Some(message) => {
                    messages.push(message);
                    in_batch.push(index);
                }
                None => self.post(line.as_bytes(), &[index], &mut sent),
            }
        }
        if !messages.is_empty() {
            let body = json!({ "batch": messages }).to_string();
            self.post(body.as_bytes(), &in_batch, &mut sent);
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
        for (index, line) in lines.iter().enumerate() {
            let key = user_of(line);
            if let Err((e, _)) = self.producer.send(BaseRecord::to(&self.topic).key(&key).payload(line)) {
                sent.failed += 1;
                sent.failed_lines.push(index);
                sent.error = Some(e.to_string());
            }
        }
        match self.producer.flush(Duration::from_secs(30)) {
            Ok(()) => sent.accepted += lines.len() as u64 - sent.failed,
            Err(e) => {
                sent.failed = lines.len() as u64;
                sent.failed_lines = (0..lines.len()).collect();
                sent.error = Some(format!("not acknowledged: {e}"));
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collector that answers a Segment batch with `batch_status` and any other body
    /// with 400 (the line alone is invalid).
    fn collector(batch_status: u16) -> String {
        crate::mock_http::serve(move |body| match body.contains("\"batch\"") {
            true => (batch_status, "{\"error\":\"unavailable\"}".into()),
            false => (400, "{\"accepted\":0}".into()),
        })
    }

    #[test]
    fn only_the_lines_of_an_answered_request_are_acknowledged() {
        let valid = |n: u32| {
            format!(
                r#"{{"id":"e{n}","user":"u1","type":"app_opened","time":"2026-11-30T10:00:00Z","sent_at":"2026-11-30T10:00:00Z","properties":{{}}}}"#
            )
        };
        let lines = vec![valid(0), "not an event".to_string(), valid(1)];
        // The lone invalid line is answered (400: refused, not lost); the batch is not.
        let sent = HttpDriver::new(&collector(503), "wk").send(&lines);
        assert_eq!((sent.failed, sent.failed_lines), (2, vec![0, 2]), "the batch's two events failed");
        let sent = HttpDriver::new(&collector(200), "wk").send(&lines);
        assert_eq!((sent.failed, sent.failed_lines), (0, vec![]));
    }

    #[test]
    fn the_key_is_the_user() {
        assert_eq!(user_of(r#"{"user":"u7"}"#), "u7");
        assert_eq!(user_of("{\"user\": "), "");
    }
}
