//! Where accepted and failed events go, acknowledged.
//!
//! Contract: [`Publisher::publish`] resolves `Ok` only when every record has been
//! acknowledged by its destination (Kafka: the broker, with the idempotent producer,
//! `acks=all`), and `Err` if any could not be (broker unreachable past the delivery
//! timeout, queue full): the caller then answers 503 and the client keeps its events.
//! [`KafkaPublisher`] is the distributed implementation; [`MemoryLog`] the embedded one
//! (an in-process log) and the one API tests use, with a switch that makes it fail.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

/// One record for a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The topic.
    pub topic: String,
    /// The key (user id).
    pub key: String,
    /// The JSON payload.
    pub payload: String,
    /// The Kafka timestamp (ms): when the collector received it.
    pub timestamp_ms: i64,
}

/// The future of a publish.
pub type Publishing = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A destination for records (see the module contract).
pub trait Publisher: Send + Sync + 'static {
    /// Publishes all records; resolves once all are acknowledged.
    fn publish(&self, records: Vec<Record>) -> Publishing;
    /// Whether publishing currently works (for `/ready`).
    fn healthy(&self) -> bool;
}

/// Sends each delivery report to the request waiting for it.
pub struct AckContext {
    healthy: Arc<AtomicBool>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<oneshot::Sender<Result<(), String>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.to_string()),
        };
        self.healthy.store(outcome.is_ok(), Ordering::Relaxed);
        let _ = waiting.send(outcome);
    }
}

/// Publishes to Kafka.
///
/// The producer itself never gives up on a record (no delivery timeout: an idempotent
/// producer whose records time out must bump its epoch); instead a publish stops
/// *waiting* after `timeout`, reports failure — so the caller spools the batch — and
/// marks the publisher unhealthy until a delivery succeeds again. Unhealthy for longer
/// than twice the timeout (an outage, not a hiccup), the producer is replaced by a
/// fresh one: the records it still queued are dropped (they are all in the spool), and
/// the broker sees a new producer session when it comes back, rather than an old one
/// whose sequence state a restarted broker may have lost.
pub struct KafkaPublisher {
    client: rdkafka::ClientConfig,
    producer: Mutex<Arc<ThreadedProducer<AckContext>>>,
    healthy: Arc<AtomicBool>,
    unhealthy_since: Mutex<Option<std::time::Instant>>,
    timeout: Duration,
}

impl KafkaPublisher {
    /// An idempotent producer; a publish waits at most `timeout` for acknowledgements.
    pub fn new(config: &segstream_config::DeploymentConfig, timeout: Duration, linger_ms: u64) -> Result<KafkaPublisher, String> {
        let healthy = Arc::new(AtomicBool::new(true));
        let mut client = config.client_config();
        client
            .set("enable.idempotence", "true")
            .set("linger.ms", linger_ms.to_string())
            .set("message.timeout.ms", "0");
        let producer = Self::create(&client, &healthy)?;
        Ok(KafkaPublisher {
            client,
            producer: Mutex::new(Arc::new(producer)),
            healthy,
            unhealthy_since: Mutex::new(None),
            timeout,
        })
    }

    fn create(client: &rdkafka::ClientConfig, healthy: &Arc<AtomicBool>) -> Result<ThreadedProducer<AckContext>, String> {
        client
            .create_with_context(AckContext {
                healthy: Arc::clone(healthy),
            })
            .map_err(|e| format!("kafka producer: {e}"))
    }

    /// The producer to use, replaced first if it has been failing for a while.
    fn current(&self) -> Option<Arc<ThreadedProducer<AckContext>>> {
        let mut since = self.unhealthy_since.lock().ok()?;
        let mut producer = self.producer.lock().ok()?;
        if self.healthy.load(Ordering::Relaxed) {
            *since = None;
        } else if since.is_some_and(|t| t.elapsed() > self.timeout * 2) {
            if let Ok(fresh) = Self::create(&self.client, &self.healthy) {
                let old = std::mem::replace(&mut *producer, Arc::new(fresh));
                // Dropping purges its queue and may wait briefly: not on this thread.
                std::thread::spawn(move || drop(old));
                *since = Some(std::time::Instant::now());
            }
        } else if since.is_none() {
            *since = Some(std::time::Instant::now());
        }
        Some(Arc::clone(&producer))
    }

    /// Waits for queued records, at most `timeout` (graceful shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        let producer = self.producer.lock().map_err(|_| "producer lock poisoned".to_string())?;
        rdkafka::producer::Producer::flush(&**producer, Timeout::After(timeout)).map_err(|e| e.to_string())
    }
}

impl Publisher for KafkaPublisher {
    fn publish(&self, records: Vec<Record>) -> Publishing {
        let Some(producer) = self.current() else {
            return Box::pin(async { Err("the producer lock is poisoned".to_string()) });
        };
        let mut acks = Vec::with_capacity(records.len());
        for record in &records {
            let (sender, receiver) = oneshot::channel();
            let base = BaseRecord::with_opaque_to(&record.topic, Box::new(sender))
                .key(&record.key)
                .payload(&record.payload)
                .timestamp(record.timestamp_ms);
            if let Err((e, _)) = producer.send(base) {
                self.healthy.store(false, Ordering::Relaxed);
                let reason = format!("cannot queue for {}: {e}", record.topic);
                return Box::pin(async move { Err(reason) });
            }
            acks.push(receiver);
        }
        let (healthy, timeout) = (Arc::clone(&self.healthy), self.timeout);
        Box::pin(async move {
            let all = async {
                for ack in acks {
                    ack.await.map_err(|_| "the producer went away".to_string())??;
                }
                Ok(())
            };
            match tokio::time::timeout(timeout, all).await {
                Ok(result) => result,
                Err(_) => {
                    healthy.store(false, Ordering::Relaxed);
                    Err(format!("not acknowledged within {timeout:?}"))
                }
            }
        })
    }

    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// The embedded in-process log.
#[derive(Default)]
pub struct MemoryLog {
    records: Mutex<Vec<Record>>,
    failing: AtomicBool,
}

impl MemoryLog {
    /// Everything published so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Makes publishing fail (`true`) or work again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }
}

impl Publisher for MemoryLog {
    fn publish(&self, records: Vec<Record>) -> Publishing {
        let result = if self.failing.load(Ordering::Relaxed) {
            Err("the log is unavailable".to_string())
        } else {
            self.records
                .lock()
                .map(|mut log| log.extend(records))
                .map_err(|_| "the log is poisoned".to_string())
        };
        Box::pin(async move { result })
    }

    fn healthy(&self) -> bool {
        !self.failing.load(Ordering::Relaxed)
    }
}
