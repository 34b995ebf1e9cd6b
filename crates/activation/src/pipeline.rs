//! One partner's delivery pipeline: batches, identifiers, requests, retries, bisection
//! and dead letters. Nothing here is shared with another partner.
//!
//! Contract: [`Pipeline::start`] runs `concurrency` workers on the caller's tokio
//! runtime. [`Pipeline::submit`] routes a change to the worker of its user (a hash of
//! the user id), so the changes of one (partner, user, segment) are delivered in order.
//! A worker takes up to `batch_size` changes, waiting at most `max_batch_wait` after the
//! first; coalesces them to their net effect (`crate::change::coalesce`); resolves each
//! user's identifier (a change without one is dead-lettered); plans the kind's requests
//! and sends them one after another. A request answered "retry" is retried after a
//! jittered backoff (and the partner's `Retry-After`) until delivered or its budget is
//! spent, then dead-lettered with the reason; a request refused whole is split in two
//! and each half sent on its own, down to single changes, so one bad id cannot fail the
//! rest. Every change ends delivered, superseded or dead-lettered — and only then is it
//! marked done in the [`OffsetTracker`], so offsets are committed only past finished
//! changes. Before each request the worker waits at the partner's [`Gate`]. Changes
//! older than what the partner was already handed (after a crash, see `crate::handed`)
//! are dropped as superseded; what a batch carries is recorded before it is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use segstream_telemetry::streak::FailureStreak;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::change::{coalesce, delivery_id, Change};
use crate::config::{PartnerConfig, PartnerKind};
use crate::dead_letters::{DeadLetter, DeadLetterStore};
use crate::gate::Gate;
use crate::handed::Handed;
use crate::http::HttpClient;
use crate::identities::{field_values, Identities};
use crate::identity::identify;
use crate::metrics::{PartnerMetrics, PartnerStatus};
use crate::partners::{audience_api, outcome_of_status, segment_events, webhook, Item, Outcome, Planned};
use crate::retry::{backoff, Attempts};
use crate::tracker::OffsetTracker;

/// Changes a worker's queue holds before `submit` waits.
const WORKER_QUEUE: usize = 16_384;

/// Produces records to a partner's Kafka topic (the `kafka` kind).
pub trait TopicSink: Send + Sync {
    /// Produces `(key, payload)` records to `topic` and returns once the broker has them.
    fn produce(&self, topic: &str, records: &[(String, String)]) -> Result<(), String>;
}

/// What a pipeline needs besides its configuration.
#[derive(Clone)]
pub struct Services {
    /// The HTTP client.
    pub http: HttpClient,
    /// Users' profiles, for identifiers.
    pub identities: Arc<dyn Identities>,
    /// The dead-letter store.
    pub dead_letters: Arc<DeadLetterStore>,
    /// The producer for `kafka` partners (none in the embedded deployment).
    pub topics: Option<Arc<dyn TopicSink>>,
    /// What each partner was handed, so a replay never goes back in time.
    pub handed: Arc<dyn Handed>,
}

struct Shared {
    config: PartnerConfig,
    services: Services,
    gate: Gate,
    metrics: PartnerMetrics,
    tracker: Arc<OffsetTracker>,
    /// Consecutive failures of the pipeline's own reads and writes (for the log).
    own_failures: FailureStreak,
}

/// A running partner pipeline.
#[derive(Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
    workers: Vec<mpsc::Sender<Change>>,
}

impl Pipeline {
    /// Starts the workers on the current tokio runtime.
    pub fn start(config: PartnerConfig, services: Services, tracker: Arc<OffsetTracker>) -> Pipeline {
        let gate = Gate::new(config.rate_limit, config.disable_after, Instant::now());
        let shared = Arc::new(Shared {
            gate,
            metrics: PartnerMetrics::default(),
            tracker,
            own_failures: FailureStreak::new(),
            services,
            config,
        });
        let workers = (0..shared.config.concurrency)
            .map(|_| {
                let (sender, receiver) = mpsc::channel(WORKER_QUEUE);
                tokio::spawn(run_worker(Arc::clone(&shared), receiver));
                sender
            })
            .collect();
        Pipeline { shared, workers }
    }

    /// The partner's configuration.
    pub fn config(&self) -> &PartnerConfig {
        &self.shared.config
    }

    /// Its counters.
    pub fn metrics(&self) -> &PartnerMetrics {
        &self.shared.metrics
    }

    /// Hands a change to its user's worker (waits while that worker's queue is full).
    /// A change of a segment the partner does not receive is finished at once.
    pub async fn submit(&self, change: Change) {
        self.shared.tracker.read(change.position);
        PartnerMetrics::add(&self.shared.metrics.read, 1);
        if !self.shared.config.segments.contains_key(&change.segment) {
            self.shared.tracker.done(change.position);
            return;
        }
        let worker = segstream_model::partitioning::partition_of(&change.user, self.workers.len());
        if self.workers[worker].send(change).await.is_err() {
            // The runtime is shutting down: the change stays pending, so it is read again.
            report(&self.shared, "the pipeline stopped".to_string());
        }
    }

    /// The partner's state for `status`.
    pub fn status(&self) -> PartnerStatus {
        let m = &self.shared.metrics;
        let (p50, p99) = m.latency();
        let gate = self.shared.gate.status();
        PartnerStatus {
            partner: self.shared.config.id.clone(),
            kind: self.shared.config.kind.name().to_string(),
            read: PartnerMetrics::get(&m.read),
            delivered: PartnerMetrics::get(&m.delivered),
            pending: self.shared.tracker.pending() as u64,
            retried: PartnerMetrics::get(&m.retried),
            dead_lettered: PartnerMetrics::get(&m.dead_lettered),
            superseded: PartnerMetrics::get(&m.superseded),
            lag: PartnerMetrics::get(&m.lag),
            latency_p50_ms: p50,
            latency_p99_ms: p99,
            breaker_open: gate.open,
            disabled: gate.disabled,
            last_error: m.last_error(),
        }
    }
}

async fn run_worker(shared: Arc<Shared>, mut receiver: mpsc::Receiver<Change>) {
    while let Some(first) = receiver.recv().await {
        let deadline = tokio::time::Instant::now() + shared.config.max_batch_wait;
        let mut batch = vec![first];
        while batch.len() < shared.config.batch_size {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(change)) => batch.push(change),
                Ok(None) | Err(_) => break,
            }
        }
        let span = tracing::info_span!("delivery", partner = %shared.config.id, changes = batch.len());
        deliver_batch(&shared, batch).instrument(span).await;
    }
}

/// Delivers one batch to the end (see the module contract).
async fn deliver_batch(shared: &Shared, batch: Vec<Change>) {
    let (kept, mut superseded) = coalesce(batch);
    let (kept, stale) = drop_stale(shared, kept).await;
    superseded.extend(stale);
    PartnerMetrics::add(&shared.metrics.superseded, superseded.len() as u64);
    for change in &superseded {
        shared.tracker.done(change.position);
    }
    let (items, unidentified) = resolve(shared, kept).await;
    dead_letter(shared, unidentified, 0).await;
    if items.is_empty() {
        return;
    }
    record_handed(shared, &items).await;
    let planned = plan(&shared.config, &items);
    for request in planned {
        let subset: Vec<Item> = request.items.iter().map(|&i| items[i].clone()).collect();
        deliver(shared, subset).await;
    }
}

/// The changes not older than what the partner was already handed, and the older ones
/// (see `crate::handed`). If the store cannot be read, nothing is dropped.
async fn drop_stale(shared: &Shared, changes: Vec<Change>) -> (Vec<Change>, Vec<Change>) {
    let keys: Vec<(String, String)> = changes.iter().map(|c| (c.user.clone(), c.segment.clone())).collect();
    let (handed, partner) = (Arc::clone(&shared.services.handed), shared.config.id.clone());
    let latest = match tokio::task::spawn_blocking(move || handed.latest(&partner, &keys)).await {
        Ok(Ok(latest)) => {
            if let Some(failures) = shared.own_failures.succeeded() {
                tracing::info!(partner = %shared.config.id, failures, "what was handed can be read again");
            }
            latest
        }
        Ok(Err(e)) => {
            report(shared, format!("reading what was handed: {e}"));
            return (changes, Vec::new());
        }
        Err(e) => {
            report(shared, format!("reading what was handed: {e}"));
            return (changes, Vec::new());
        }
    };
    let (mut kept, mut stale) = (Vec::new(), Vec::new());
    for (change, latest) in changes.into_iter().zip(latest) {
        if latest.is_some_and(|t| change.tick < t) {
            stale.push(change);
        } else {
            kept.push(change);
        }
    }
    (kept, stale)
}

/// Records the items as handed to the partner, before they are sent; retried until it
/// works (a change must not go out unrecorded, or a replay could send an older one after it).
async fn record_handed(shared: &Shared, items: &[Item]) {
    let ticks: Vec<(String, String, u64)> = items
        .iter()
        .map(|i| (i.change.user.clone(), i.change.segment.clone(), i.change.tick))
        .collect();
    let mut wait = Duration::from_millis(100);
    loop {
        let (handed, partner, ticks) = (Arc::clone(&shared.services.handed), shared.config.id.clone(), ticks.clone());
        match tokio::task::spawn_blocking(move || handed.record(&partner, &ticks)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => report(shared, format!("recording what is handed: {e}")),
            Err(e) => report(shared, format!("recording what is handed: {e}")),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// Items for the changes whose identifier is known; the others with their reason.
async fn resolve(shared: &Shared, changes: Vec<Change>) -> (Vec<Item>, Vec<(Item, String)>) {
    let spec = &shared.config.identifier;
    let raw: Vec<Option<String>> = match &spec.field {
        None => changes.iter().map(|c| Some(c.user.clone())).collect(),
        Some(field) => {
            let users: Vec<String> = changes.iter().map(|c| c.user.clone()).collect();
            let identities = Arc::clone(&shared.services.identities);
            let looked_up = tokio::task::spawn_blocking(move || identities.profiles(&users)).await;
            match looked_up {
                Ok(Ok(profiles)) => field_values(&profiles, field),
                Ok(Err(reason)) => {
                    report(shared, format!("profile lookup: {reason}"));
                    vec![None; changes.len()]
                }
                Err(join) => {
                    report(shared, format!("profile lookup: {join}"));
                    vec![None; changes.len()]
                }
            }
        }
    };
    let mut items = Vec::with_capacity(changes.len());
    let mut missing = Vec::new();
    for (change, value) in changes.into_iter().zip(raw) {
        let audience = shared.config.segments.get(&change.segment).cloned().unwrap_or_default();
        let id = delivery_id(&shared.config.id, &change);
        let identifier = value.as_deref().and_then(|v| identify(v, spec.normalise, spec.hash));
        let item = Item {
            change,
            delivery_id: id,
            identifier: identifier.clone().unwrap_or_default(),
            audience,
        };
        match identifier {
            Some(_) => items.push(item),
            None => {
                let what = spec.field.as_deref().unwrap_or("user id");
                missing.push((item, format!("no usable {what} for the user")));
            }
        }
    }
    (items, missing)
}

/// The requests of the partner's kind for `items`.
fn plan(config: &PartnerConfig, items: &[Item]) -> Vec<Planned> {
    match config.kind {
        PartnerKind::AudienceApi => audience_api::plan(config, items),
        PartnerKind::Webhook => webhook::plan(config, items, segstream_time::wall_clock_ms() / 1000),
        PartnerKind::Segment => segment_events::plan(config, items),
        // One "request" carrying every item: the topic sink produces them.
        PartnerKind::Kafka => vec![Planned {
            request: crate::http::PartnerRequest {
                method: "PRODUCE",
                url: config.topic.clone(),
                headers: Vec::new(),
                body: Vec::new(),
            },
            items: (0..items.len()).collect(),
        }],
    }
}

/// Sends `items` (the items of one planned request) until each is delivered or
/// dead-lettered, bisecting a request refused whole.
async fn deliver(shared: &Shared, items: Vec<Item>) {
    let mut pending = vec![items];
    while let Some(items) = pending.pop() {
        let mut attempts = Attempts::start(Instant::now());
        loop {
            wait_at_gate(shared).await;
            attempts.made += 1;
            match attempt(shared, &items).await {
                Outcome::Delivered => {
                    shared.gate.succeeded();
                    delivered(shared, &items);
                    break;
                }
                Outcome::PartlyRejected(rejected) => {
                    shared.gate.succeeded();
                    let mut refused = vec![false; items.len()];
                    let mut letters = Vec::new();
                    for (index, reason) in rejected {
                        if let Some(flag) = refused.get_mut(index).filter(|f| !**f) {
                            *flag = true;
                            letters.push((items[index].clone(), reason));
                        }
                    }
                    let accepted: Vec<Item> = items.iter().zip(&refused).filter(|(_, r)| !**r).map(|(i, _)| i.clone()).collect();
                    delivered(shared, &accepted);
                    dead_letter(shared, letters, attempts.made).await;
                    break;
                }
                Outcome::Rejected(reason) if items.len() > 1 => {
                    // The partner refused the request whole: bisect, second half sent last.
                    tracing::debug!(items = items.len(), reason = %reason, "the partner refused a request whole; bisecting it");
                    shared.metrics.error(&reason);
                    let mut first = items;
                    let second = first.split_off(first.len() / 2);
                    pending.push(second);
                    pending.push(first);
                    break;
                }
                Outcome::Rejected(reason) => {
                    shared.metrics.error(&reason);
                    let letters = items.into_iter().map(|i| (i, reason.clone())).collect();
                    dead_letter(shared, letters, attempts.made).await;
                    break;
                }
                Outcome::Retry { reason, after } => {
                    // Said on the first failure of a request and then ever more rarely,
                    // so a partner that is down does not flood the log.
                    if attempts.made.is_power_of_two() {
                        tracing::warn!(attempt = attempts.made, items = items.len(), reason = %reason, "a delivery failed; retrying");
                    }
                    shared.metrics.error(&reason);
                    PartnerMetrics::add(&shared.metrics.retried, items.len() as u64);
                    shared.gate.failed(Instant::now(), after);
                    if attempts.spent(shared.config.retry, Instant::now()) {
                        let reason = format!("retry budget spent after {} attempts: {reason}", attempts.made);
                        let letters = items.into_iter().map(|i| (i, reason.clone())).collect();
                        dead_letter(shared, letters, attempts.made).await;
                        break;
                    }
                    let seed = items.first().map_or(0, |i| i.change.tick ^ items.len() as u64);
                    let wait = backoff(attempts.made, seed).max(after.unwrap_or_default());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

async fn wait_at_gate(shared: &Shared) {
    loop {
        let wait = shared.gate.wait_time(Instant::now());
        if wait.is_zero() {
            return;
        }
        tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
    }
}

/// One attempt at delivering `items` in one request.
async fn attempt(shared: &Shared, items: &[Item]) -> Outcome {
    let config = &shared.config;
    if config.kind == PartnerKind::Kafka {
        let Some(sink) = shared.services.topics.clone() else {
            return Outcome::Rejected("kafka partners need the distributed deployment (no broker here)".into());
        };
        let topic = config.topic.clone();
        let records: Vec<(String, String)> = items.iter().map(|i| (i.change.user.clone(), topic_record(config, i))).collect();
        return match tokio::task::spawn_blocking(move || sink.produce(&topic, &records)).await {
            Ok(Ok(())) => Outcome::Delivered,
            Ok(Err(reason)) => Outcome::Retry { reason, after: None },
            Err(e) => Outcome::Retry {
                reason: e.to_string(),
                after: None,
            },
        };
    }
    // Re-plan for exactly these items (a bisected half is a request of its own).
    let Some(planned) = plan(config, items).into_iter().next() else {
        return Outcome::Delivered;
    };
    match shared.services.http.send(&planned.request, config.timeout).await {
        Ok(response) => match config.kind {
            PartnerKind::AudienceApi => audience_api::interpret(&response, items.len()),
            _ => outcome_of_status(&response),
        },
        Err(reason) => Outcome::Retry { reason, after: None },
    }
}

/// The record a `kafka` partner gets for one item.
fn topic_record(config: &PartnerConfig, item: &Item) -> String {
    serde_json::json!({
        "delivery_id": item.delivery_id,
        "partner": config.id,
        "user": item.change.user,
        "identifier": item.identifier,
        "segment": item.change.segment,
        "audience": item.audience,
        "change": crate::partners::change_word(&item.change),
        "time_ms": item.change.tick,
    })
    .to_string()
}

fn delivered(shared: &Shared, items: &[Item]) {
    let now = segstream_time::wall_clock_ms();
    PartnerMetrics::add(&shared.metrics.delivered, items.len() as u64);
    for item in items {
        shared.metrics.record_latency(now.saturating_sub(item.change.read_at_ms));
        shared.tracker.done(item.change.position);
    }
}

/// Keeps a failure of the pipeline's own work (not a delivery's: reading or recording
/// what was handed, looking up identifiers) as the partner's last error, and logs it
/// once per streak of such failures (a store that is down fails every batch).
fn report(shared: &Shared, message: String) {
    if let Some(failures) = shared.own_failures.failed() {
        tracing::warn!(partner = %shared.config.id, failures, "{message}");
    }
    shared.metrics.error(&message);
}

/// Says that dead letters could not be written (their offsets stay uncommitted).
fn dead_letters_unwritten(shared: &Shared, error: &dyn std::fmt::Display) {
    tracing::error!(error = %error, "writing dead letters failed; their offsets stay uncommitted");
    shared
        .metrics
        .error(&format!("writing dead letters: {error} (their offsets stay uncommitted)"));
}

/// Dead-letters items durably, then marks them done; a store that cannot write keeps
/// them pending (their offsets are not committed) and says so.
async fn dead_letter(shared: &Shared, items: Vec<(Item, String)>, attempts: u32) {
    if items.is_empty() {
        return;
    }
    let now = segstream_time::wall_clock_ms();
    let letters: Vec<DeadLetter> = items
        .iter()
        .map(|(item, reason)| DeadLetter {
            delivery_id: item.delivery_id.clone(),
            partner: shared.config.id.clone(),
            user: item.change.user.clone(),
            segment: item.change.segment.clone(),
            change: crate::partners::change_word(&item.change).to_string(),
            time_ms: item.change.tick,
            reason: reason.clone(),
            attempts,
            at_ms: now,
        })
        .collect();
    let store = Arc::clone(&shared.services.dead_letters);
    let partner = shared.config.id.clone();
    let written = tokio::task::spawn_blocking(move || store.append(&partner, &letters)).await;
    match written {
        Ok(Ok(())) => {
            PartnerMetrics::add(&shared.metrics.dead_lettered, items.len() as u64);
            if let Some((first, reason)) = items.first() {
                tracing::warn!(
                    items = items.len(),
                    attempts,
                    reason = %reason,
                    user = %first.change.user,
                    segment = %first.change.segment,
                    "changes dead-lettered (the first named)"
                );
                shared.metrics.error(reason);
            }
            for (item, _) in &items {
                shared.tracker.done(item.change.position);
            }
        }
        Ok(Err(e)) => dead_letters_unwritten(shared, &e),
        Err(e) => dead_letters_unwritten(shared, &e),
    }
}
