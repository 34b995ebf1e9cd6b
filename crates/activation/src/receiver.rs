//! A partner on this machine: the demo's local partner, and the harness's mock partner
//! with faults.
//!
//! Contract: `fn app(Receiver) -> Router` accepts the three HTTP kinds —
//! `POST|DELETE /audiences/{audience}/users` (audience-list API), `POST /webhook` (a
//! signed webhook, verified with the partner's secret when one is set: a bad or stale signature
//! is answered 401), and `POST /segment/v1/batch` (Segment track events) — and records
//! every change it accepts as one NDJSON line in `<dir>/<partner>.ndjson`, where
//! `<partner>` is the path's first segment after `/p/` (`/p/meta/audiences/…`) or
//! `local`: `{"user", "segment", "change", "time_ms", "delivery_id", "identifier",
//! "received_at_ms"}`, so the harness reads a partner's receipts as it reads change
//! records. [`Faults`] (changeable while it runs) add latency, 5xx errors at a rate,
//! 429s with `Retry-After`, a down switch (503), garbage answers, and ids to refuse
//! (answered in the audience API's `invalid` list, or a whole-batch 400 with
//! `reject_whole`).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::ndjson_files::NdjsonFiles;
use crate::signature::{verify, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Faults a mock partner injects.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Added before every answer.
    pub latency: Duration,
    /// Share of requests answered 500 (0–1).
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After: 1` (0–1).
    pub throttle_rate: f64,
    /// Every request answered 503.
    pub down: bool,
    /// Answers 200 with a body that is not JSON.
    pub garbage: bool,
    /// Identifiers refused.
    pub refuse_ids: BTreeSet<String>,
    /// A batch holding a refused id is answered 400 as a whole (else the id is listed
    /// as invalid and the rest accepted).
    pub reject_whole: bool,
}

/// The receiver's state.
#[derive(Clone)]
pub struct Receiver {
    dir: PathBuf,
    secrets: Arc<HashMap<String, String>>,
    faults: Arc<Mutex<Faults>>,
    /// Where receipts go; none for a receiver that only counts.
    files: Option<Arc<NdjsonFiles>>,
    requests: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
}

impl Receiver {
    /// Records into `dir`; verifies each partner's webhook signatures with its secret in
    /// `secrets` (keyed by the partner in the path; `local` without one).
    pub fn new(dir: PathBuf, secrets: HashMap<String, String>) -> std::io::Result<Receiver> {
        Ok(Receiver {
            files: Some(Arc::new(NdjsonFiles::new(&dir)?)),
            dir,
            secrets: Arc::new(secrets),
            faults: Arc::new(Mutex::new(Faults::default())),
            requests: Arc::new(AtomicU64::new(0)),
            accepted: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A receiver that only counts what it accepts (for throughput benchmarks).
    pub fn counting() -> std::io::Result<Receiver> {
        let mut receiver = Receiver::new(std::env::temp_dir(), HashMap::new())?;
        receiver.files = None;
        Ok(receiver)
    }

    /// Replaces the faults (takes effect on the next request).
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
    }

    /// Applies `base` faults plus a scheduled outage `(from, length)` at `elapsed` since
    /// the schedule's start; returns whether the receiver is now down, if that changed.
    pub fn follow_outage(&self, base: &Faults, outage: Option<(Duration, Duration)>, elapsed: Duration) -> Option<bool> {
        let down = outage.is_some_and(|(from, length)| elapsed >= from && elapsed < from + length);
        let mut faults = self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if faults.down == down {
            return None;
        }
        *faults = Faults { down, ..base.clone() };
        Some(down)
    }

    /// The file a partner's receipts go to.
    pub fn receipts(&self, partner: &str) -> PathBuf {
        self.dir.join(format!("{partner}.ndjson"))
    }

    /// `(requests answered, changes accepted)` so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.requests.load(Ordering::Relaxed), self.accepted.load(Ordering::Relaxed))
    }

    fn faults(&self) -> Faults {
        self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn record<T: serde::Serialize>(&self, partner: &str, lines: &[T]) -> std::io::Result<()> {
        if let Some(files) = &self.files {
            files.append(partner, lines, false)?;
        }
        self.accepted.fetch_add(lines.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A signed webhook's body, as the receiver reads it.
#[derive(serde::Deserialize)]
struct HookBody<'a> {
    #[serde(borrow)]
    changes: Vec<HookChange<'a>>,
}

/// One change of a webhook body, and the receipt line written for it.
#[derive(serde::Deserialize, serde::Serialize)]
struct HookChange<'a> {
    #[serde(borrow)]
    user: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    segment: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    change: std::borrow::Cow<'a, str>,
    time_ms: u64,
    #[serde(borrow)]
    delivery_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    identifier: std::borrow::Cow<'a, str>,
    #[serde(default)]
    received_at_ms: u64,
}

/// The router (see the module contract).
pub fn app(receiver: Receiver) -> Router {
    let partner_routes = Router::new()
        .route("/audiences/{audience}/users", post(audience).delete(audience))
        .route("/webhook", post(webhook))
        .route("/segment/v1/batch", post(segment));
    Router::new()
        .route("/audiences/{audience}/users", post(local_audience).delete(local_audience))
        .route("/webhook", post(local_webhook))
        .route("/segment/v1/batch", post(local_segment))
        .nest("/p/{partner}", partner_routes)
        .route("/health", axum::routing::get(|| async { "ok" }))
        .with_state(receiver)
}

/// A deterministic per-request draw in [0, 1) for the fault rates.
fn draw(n: u64) -> f64 {
    ((n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64) / ((1u64 << 53) as f64)
}

/// The injected fault for this request, if any.
async fn injected(receiver: &Receiver) -> Option<Response> {
    let n = receiver.requests.fetch_add(1, Ordering::Relaxed);
    let faults = receiver.faults();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if faults.down {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "down").into_response());
    }
    if draw(n) < faults.throttle_rate {
        return Some((StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response());
    }
    if draw(n ^ 0x5555) < faults.error_rate {
        return Some((StatusCode::INTERNAL_SERVER_ERROR, "injected error").into_response());
    }
    if faults.garbage {
        return Some((StatusCode::OK, "<html>not json").into_response());
    }
    None
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

fn stored(result: std::io::Result<()>, ok: Response) -> Response {
    match result {
        Ok(()) => ok,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot record: {e}")).into_response(),
    }
}

async fn local_audience(state: State<Receiver>, audience_id: Path<String>, method: Method, body: Bytes) -> Response {
    audience(state, Path(("local".to_string(), audience_id.0)), method, body).await
}

async fn audience(
    State(receiver): State<Receiver>,
    Path((partner, audience)): Path<(String, String)>,
    method: Method,
    body: Bytes,
) -> Response {
    if let Some(fault) = injected(&receiver).await {
        return fault;
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("not JSON: {e}")),
    };
    let (Some(data), Some(ids)) = (parsed["data"].as_array(), parsed["delivery_ids"].as_array()) else {
        return bad_request("expected \"data\" and \"delivery_ids\" arrays".into());
    };
    let refuse = receiver.faults().refuse_ids;
    let change = if method == Method::DELETE { "exit" } else { "enter" };
    let mut invalid = Vec::new();
    let mut lines = Vec::new();
    for (index, (id, delivery)) in data.iter().zip(ids).enumerate() {
        let id = id.as_str().unwrap_or_default();
        if refuse.contains(id) {
            invalid.push(json!({"index": index, "reason": "unknown id"}));
            continue;
        }
        lines.push(
            json!({"identifier": id, "audience": audience, "change": change, "delivery_id": delivery,
            "received_at_ms": segstream_time::wall_clock_ms()}),
        );
    }
    if !invalid.is_empty() && receiver.faults().reject_whole {
        return bad_request("the batch holds an unknown id".into());
    }
    let answer = json!({"received": data.len(), "invalid": invalid}).to_string();
    stored(receiver.record(&partner, &lines), (StatusCode::OK, answer).into_response())
}

async fn local_webhook(state: State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    webhook(state, Path("local".to_string()), headers, body).await
}

async fn webhook(State(receiver): State<Receiver>, Path(partner): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(fault) = injected(&receiver).await {
        return fault;
    }
    if let Some(secret) = receiver.secrets.get(&partner) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let timestamp = header(TIMESTAMP_HEADER).parse::<u64>().unwrap_or(0);
        let now = segstream_time::wall_clock_ms() / 1000;
        if let Err(e) = verify(secret, &header(ID_HEADER), timestamp, &body, &header(SIGNATURE_HEADER), now, 300) {
            return (StatusCode::UNAUTHORIZED, format!("signature: {e}")).into_response();
        }
    }
    let mut parsed: HookBody<'_> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("not a webhook body of changes: {e}")),
    };
    let now = segstream_time::wall_clock_ms();
    parsed.changes.iter_mut().for_each(|c| c.received_at_ms = now);
    let lines = parsed.changes;
    stored(receiver.record(&partner, &lines), StatusCode::NO_CONTENT.into_response())
}

async fn local_segment(state: State<Receiver>, body: Bytes) -> Response {
    segment(state, Path("local".to_string()), body).await
}

async fn segment(State(receiver): State<Receiver>, Path(partner): Path<String>, body: Bytes) -> Response {
    if let Some(fault) = injected(&receiver).await {
        return fault;
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("not JSON: {e}")),
    };
    let Some(batch) = parsed["batch"].as_array() else {
        return bad_request("expected a \"batch\" array".into());
    };
    let now = segstream_time::wall_clock_ms();
    let lines: Vec<Value> = batch
        .iter()
        .map(|e| {
            let change = if e["event"] == "Audience Exited" { "exit" } else { "enter" };
            json!({"identifier": e["userId"], "segment": e["properties"]["segment"], "change": change,
                "delivery_id": e["messageId"], "received_at_ms": now})
        })
        .collect();
    stored(
        receiver.record(&partner, &lines),
        (StatusCode::OK, "{\"success\": true}").into_response(),
    )
}
