//! The HTTP API: routes, and what each answer means.
//!
//! Contract: [`app`] builds the router (testable without a server):
//! - `POST /v1/batch`, `/v1/track` (Segment-compatible), `/v1/events` (segstream JSON:
//!   object, array, or NDJSON with `Content-Type: application/x-ndjson`); gzip bodies
//!   with `Content-Encoding: gzip`. Answers:
//!   - 200 `{"success": true, "accepted": n, "rejected": [{"index", "messageId", "reason"}],
//!     "received_at": ms}` (the arrival instant stamped on every event of the request)
//!     once every accepted event is acknowledged by the log (and every rejected one is
//!     in `failed-events`); 400 with the same body if every event was rejected;
//!   - 400 `{"error"}` for malformed JSON (with line and column) or a wrong shape;
//!   - 401 without an accepted write key; 413 over the request limit, or for more
//!     events in one request than the write key's burst (split the batch); 429 with
//!     `Retry-After` (when the bucket will hold the request) over the write key's rate
//!     limit, judged before the body is read when the key has nothing left (nothing of
//!     a refused request is stored);
//!   - 503 with `Retry-After` when the log did not acknowledge: nothing of the request
//!     may be assumed stored, and the client keeps its events.
//! - `GET /health` (alive), `/ready` (publishing works), `/metrics` (Prometheus),
//!   `/openapi.json` (the document in `docs/openapi.json`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use segstream_rules::Schema;
use segstream_telemetry::exposition;
use segstream_telemetry::streak::FailureStreak;
use serde_json::{json, Value};
use tracing::Instrument;

use super::auth::WriteKeys;
use super::client_address::TrustedProxies;
use super::metrics::CollectorMetrics;
use super::publish::{Publisher, Record};
use super::rate_limit::{retry_after_seconds, RateLimits, Verdict};
use segstream_ingest::body::{read_body, BodyError};
use segstream_ingest::events::{accept, parse_request, Api, Enrichment, Outcome, VERSION};

/// The OpenAPI document, kept in the repository.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECONDS: &str = "5";

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The schema events are checked against.
    pub schema: Arc<Schema>,
    /// Accepted write keys.
    pub keys: WriteKeys,
    /// Where events go.
    pub publisher: Arc<dyn Publisher>,
    /// The events topic.
    pub events_topic: String,
    /// The failed-events topic.
    pub failed_topic: String,
    /// Largest event (bytes).
    pub event_limit: usize,
    /// Largest request body, after inflating (bytes).
    pub request_limit: usize,
    /// Event times are clamped to at most received_at plus this.
    pub future_tolerance_ms: u64,
    /// This node's id and address.
    pub node: String,
    /// This node's address.
    pub node_ip: String,
    /// Per-key rate limits.
    pub limits: Arc<RateLimits>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Counters.
    pub metrics: Arc<CollectorMetrics>,
}

/// The router (see the module contract).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/batch", post(|s: State<AppState>, r: Request| handle(s, r, Api::Batch)))
        .route("/v1/track", post(|s: State<AppState>, r: Request| handle(s, r, Api::Track)))
        .route("/v1/events", post(|s: State<AppState>, r: Request| handle(s, r, Api::Events)))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], s.metrics.render()) }),
        )
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.publisher.healthy() {
        "ready".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "events cannot be taken: the event log is not acknowledging and the spool (if any) is full or failing",
        )
            .into_response()
    }
}

/// An error answer. A refused request (4xx) is logged at debug in the request's span,
/// so a misbehaving client cannot flood the log; events not stored (503) are logged
/// where publishing fails, once per streak ([`UNAVAILABLE`]).
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    if status.is_client_error() {
        tracing::debug!(status = status.as_u16(), error = %message, "request refused");
    }
    (status, Json(json!({"success": false, "error": message}))).into_response()
}

/// Requests answered 503 since events were last stored (for the log; the metrics count
/// each one).
static UNAVAILABLE: FailureStreak = FailureStreak::new();

/// The most characters of a client's `X-Request-Id` that are kept.
const REQUEST_ID_LIMIT: usize = 64;

/// The request's id: the client's `X-Request-Id` if it is short and plain, else one
/// made here: this process's start time and a count, both in hex, so ids differ across
/// restarts and (but for the same millisecond) across collectors.
fn request_id(headers: &HeaderMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    static STARTED_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let plain = |id: &&str| {
        !id.is_empty() && id.len() <= REQUEST_ID_LIMIT && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()).filter(plain) {
        Some(id) => id.to_string(),
        None => format!(
            "{:x}-{:x}",
            STARTED_MS.get_or_init(segstream_time::wall_clock_ms),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
    }
}

/// Handles a tracking request in its span (`request{id, path}`), answering its id in
/// `X-Request-Id` so a client's report can be found in the log.
async fn handle(state: State<AppState>, request: Request, api: Api) -> Response {
    let id = request_id(request.headers());
    let span = tracing::info_span!("request", id = %id, path = request.uri().path());
    let mut response = handle_request(state, request, api).instrument(span).await;
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client's address (see [`TrustedProxies`]); empty when the peer is unknown.
fn client_ip(request: &Request, proxies: &TrustedProxies) -> String {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return String::new();
    };
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    proxies.client(peer.ip(), forwarded).to_string()
}

/// The answer to a request the rate limit refused, or `None` if it was admitted.
fn rate_limited(state: &AppState, verdict: Verdict) -> Option<Response> {
    let response = match verdict {
        Verdict::Admitted => return None,
        Verdict::Later(wait) => too_many_requests(wait),
        Verdict::OverBurst { events, burst } => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a request of {events} events is over this write key's burst of {burst} events: send at most {burst} events per request"
            ),
        ),
    };
    CollectorMetrics::add(&state.metrics.requests_refused, 1);
    CollectorMetrics::add(&state.metrics.requests_rate_limited, 1);
    Some(response)
}

fn too_many_requests(wait: Duration) -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limit of this write key exceeded");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after_seconds(wait)));
    response
}

async fn handle_request(State(state): State<AppState>, request: Request, api: Api) -> Response {
    let refused = |status, message: String| {
        CollectorMetrics::add(&state.metrics.requests_refused, 1);
        error(status, message)
    };
    let headers = request.headers().clone();
    if !state.keys.check(header_str(&headers, header::AUTHORIZATION)) {
        return refused(StatusCode::UNAUTHORIZED, "unknown or missing write key".into());
    }
    let key = header_str(&headers, header::AUTHORIZATION)
        .and_then(WriteKeys::presented)
        .unwrap_or_default();
    if let Some(response) = rate_limited(&state, state.limits.before_reading(&key, Instant::now())) {
        return response;
    }
    let client = client_ip(&request, &state.trusted_proxies);
    let raw: Bytes = match axum::body::to_bytes(request.into_body(), state.request_limit.saturating_add(1)).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {} bytes", state.request_limit),
            )
        }
    };
    let gzip = header_str(&headers, header::CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let ndjson = header_str(&headers, header::CONTENT_TYPE).is_some_and(|t| t.contains("ndjson"));
    let body = match read_body(&raw, gzip, state.request_limit) {
        Ok(body) => body,
        Err(e @ BodyError::TooLarge { .. }) => return refused(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let request = match parse_request(&body, ndjson, api) {
        Ok(request) => request,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let enrichment = Enrichment {
        received_at_ms: segstream_time::wall_clock_ms(),
        node: state.node.clone(),
        node_ip: state.node_ip.clone(),
        client_ip: client,
    };
    let outcomes = accept(&request, &state.schema, state.future_tolerance_ms, state.event_limit, &enrichment);
    if let Some(response) = rate_limited(&state, state.limits.take(&key, outcomes.len() as u64, Instant::now())) {
        return response;
    }
    let timestamp_ms = enrichment.received_at_ms as i64;
    let (mut records, mut rejected, mut accepted) = (Vec::with_capacity(outcomes.len()), Vec::new(), 0u64);
    for outcome in outcomes {
        match outcome {
            Outcome::Accepted { key, line } => {
                accepted += 1;
                records.push(Record {
                    topic: state.events_topic.clone(),
                    key,
                    payload: line,
                    timestamp_ms,
                });
            }
            Outcome::Rejected {
                index,
                message_id,
                reason,
                payload,
            } => {
                let class = if reason.contains("limit is") {
                    &state.metrics.rejected_too_large
                } else {
                    &state.metrics.rejected_invalid
                };
                CollectorMetrics::add(class, 1);
                let failed = json!({"reason": reason, "payload": payload, "collector_version": VERSION, "node": state.node,
                    "received_at": timestamp_ms, "client_ip": enrichment.client_ip});
                records.push(Record {
                    topic: state.failed_topic.clone(),
                    key: message_id.clone().unwrap_or_default(),
                    payload: failed.to_string(),
                    timestamp_ms,
                });
                rejected.push(json!({"index": index, "messageId": message_id, "reason": reason}));
            }
        }
    }
    let started = Instant::now();
    let published = records.len() as u64;
    if let Err(reason) = state.publisher.publish(records).await {
        CollectorMetrics::add(&state.metrics.requests_unavailable, 1);
        if let Some(requests) = UNAVAILABLE.failed() {
            tracing::error!(requests, error = %reason, "events not stored: the log does not acknowledge and the spool cannot take them; answering 503");
        }
        let mut response = error(StatusCode::SERVICE_UNAVAILABLE, format!("events not stored, retry later: {reason}"));
        if let Ok(value) = RETRY_AFTER_SECONDS.parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    state.metrics.observe_publish(started.elapsed());
    if let Some(requests) = UNAVAILABLE.succeeded() {
        tracing::info!(requests, "events are stored again after requests answered 503");
    }
    CollectorMetrics::add(&state.metrics.published_events, published);
    state.metrics.observe_batch(published);
    CollectorMetrics::add(&state.metrics.events_accepted, accepted);
    CollectorMetrics::add(&state.metrics.requests_ok, 1);
    let status = if accepted == 0 && !rejected.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body: Value = json!({"success": accepted > 0 || rejected.is_empty(), "accepted": accepted, "rejected": rejected,
        "received_at": timestamp_ms});
    (status, Json(body)).into_response()
}
