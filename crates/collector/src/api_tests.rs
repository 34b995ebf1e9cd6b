//! Tests of the HTTP API through the router, without a server.

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine as _;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::api::{app, AppState, OPENAPI};
use super::auth::WriteKeys;
use super::metrics::CollectorMetrics;
use super::publish::MemoryLog;

fn state(log: &Arc<MemoryLog>) -> AppState {
    AppState {
        schema: Arc::new(segstream_rules::Schema::from_toml("[events.ad_watched]\nad_id = \"string\"\n").unwrap()),
        keys: WriteKeys::new(&["wk".to_string()]),
        publisher: Arc::clone(log) as Arc<dyn super::publish::Publisher>,
        events_topic: "events".into(),
        failed_topic: "failed-events".into(),
        event_limit: 32 * 1024,
        request_limit: 500 * 1024,
        future_tolerance_ms: 60_000,
        node: "c1".into(),
        node_ip: "127.0.0.1".into(),
        limits: Arc::new(super::rate_limit::RateLimits::new(0, 0)),
        trusted_proxies: Arc::default(),
        metrics: Arc::new(CollectorMetrics::default()),
    }
}

fn message(id: usize, ad: Value) -> Value {
    json!({"type": "track", "messageId": format!("m{id}"), "userId": "u1", "event": "ad_watched",
        "properties": {"ad_id": ad}, "originalTimestamp": "2026-11-26T10:00:00Z"})
}

async fn call(log: &Arc<MemoryLog>, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (StatusCode, Value, Option<String>) {
    let mut request = Request::post(path).header(header::AUTHORIZATION, "Bearer wk");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app(state(log)).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), retry)
}

fn batch(n: usize, bad: &[usize]) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| message(i, if bad.contains(&i) { json!(1) } else { json!("A") }))
        .collect();
    json!({"batch": items, "sentAt": "2026-11-26T10:00:01Z"}).to_string().into_bytes()
}

#[tokio::test]
async fn a_batch_with_three_bad_events_accepts_the_other_ninety_seven() {
    let log = Arc::new(MemoryLog::default());
    let (status, body, _) = call(&log, "/v1/batch", batch(100, &[3, 50, 99]), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accepted"], 97);
    let indexes: Vec<u64> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![3, 50, 99]);
    assert!(body["rejected"][0]["reason"].as_str().unwrap().contains("ad_id"));
    let records = log.records();
    assert_eq!(records.iter().filter(|r| r.topic == "events").count(), 97);
    assert!(
        records.iter().all(|r| Some(r.timestamp_ms as u64) == body["received_at"].as_u64()),
        "the reply names the received_at stamped on every record"
    );
    let failed: Vec<_> = records.iter().filter(|r| r.topic == "failed-events").collect();
    assert_eq!(failed.len(), 3, "nothing rejected is silently dropped");
    let first: Value = serde_json::from_str(&failed[0].payload).unwrap();
    assert!(first["payload"].as_str().unwrap().contains("\"m3\""));
    assert_eq!(first["collector_version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn every_refusal_has_its_status() {
    let log = Arc::new(MemoryLog::default());
    let response = app(state(&log))
        .oneshot(
            Request::post("/v1/track")
                .body(Body::from(message(1, json!("A")).to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no write key");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("wk:"));
    let (status, _, _) = call(
        &log,
        "/v1/track",
        message(1, json!("A")).to_string().into_bytes(),
        &[("authorization", &basic)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "Basic with the key as user name");
    let (status, body, _) = call(&log, "/v1/batch", b"{\"batch\": [".to_vec(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("line 1, column"), "{body}");
    let (status, _, _) = call(&log, "/v1/batch", vec![b' '; 600 * 1024], &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body, _) = call(&log, "/v1/batch", batch(2, &[0, 1]), &[]).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(0)),
        "every event rejected"
    );
    let (status, _, _) = call(&log, "/v1/batch", b"[1, 2]".to_vec(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a batch object");
}

#[tokio::test]
async fn nothing_is_acknowledged_when_the_log_does_not_acknowledge() {
    let log = Arc::new(MemoryLog::default());
    log.set_failing(true);
    let (status, body, retry) = call(&log, "/v1/batch", batch(5, &[]), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["success"], false);
    let ready = app(state(&log))
        .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn gzip_and_ndjson_bodies_are_read() {
    let log = Arc::new(MemoryLog::default());
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&batch(4, &[])).unwrap();
    let (status, body, _) = call(&log, "/v1/batch", encoder.finish().unwrap(), &[("content-encoding", "gzip")]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(4)));
    let lines =
        "{\"id\":\"e1\",\"user\":\"u\",\"type\":\"ad_watched\",\"time\":5}\n{\"id\":\"e2\",\"user\":\"u\",\"type\":\"nope\",\"time\":5}\n";
    let (status, body, _) = call(
        &log,
        "/v1/events",
        lines.as_bytes().to_vec(),
        &[("content-type", "application/x-ndjson")],
    )
    .await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(1)));
    assert!(body["rejected"][0]["reason"].as_str().unwrap().contains("unknown event type"));
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = [
        ("POST", "/v1/batch"),
        ("POST", "/v1/track"),
        ("POST", "/v1/events"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    routes.sort();
    assert_eq!(documented, routes);
    let log = Arc::new(MemoryLog::default());
    for (method, path) in &routes {
        let request = Request::builder()
            .method(method.as_str())
            .uri(path.as_str())
            .header(header::AUTHORIZATION, "Bearer wk");
        let response = app(state(&log)).oneshot(request.body(Body::from("{}")).unwrap()).await.unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    let unknown = app(state(&log))
        .oneshot(Request::get("/v2/nothing").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_the_log_down_events_are_spooled_acknowledged_and_drained_later() {
    use super::failover::{drain_once, Failover};
    use super::spool::Spool;
    let log = Arc::new(MemoryLog::default());
    let dir = std::env::temp_dir().join(format!("segstream-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (spool, _) = Spool::open(&dir, 1 << 20, 1 << 16).unwrap();
    let spool = Arc::new(spool);
    let primary: Arc<dyn super::publish::Publisher> = Arc::clone(&log) as Arc<dyn super::publish::Publisher>;
    let mut with_spool = state(&log);
    with_spool.publisher = Arc::new(Failover::new(Arc::clone(&primary), Arc::clone(&spool), Arc::clone(&with_spool.metrics)).unwrap());
    log.set_failing(true);
    let request = Request::post("/v1/batch")
        .header(header::AUTHORIZATION, "Bearer wk")
        .body(Body::from(batch(10, &[])))
        .unwrap();
    let response = app(with_spool.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "acknowledged from the spool");
    assert!(log.records().is_empty());
    assert!(spool.depth().1 > 0);
    assert!(with_spool.metrics.render().contains("segstream_collector_spooled_batches_total 1"));
    assert!(
        drain_once(&primary, &spool).await.is_err(),
        "the log is still down: nothing drained"
    );
    log.set_failing(false);
    assert_eq!(drain_once(&primary, &spool).await.unwrap(), 10);
    assert_eq!(log.records().len(), 10, "every acknowledged event arrives");
    assert_eq!(spool.depth(), (0, 0));
    // A full spool means 503: the client keeps its events.
    let (tiny, _) = Spool::open(&dir.join("tiny"), 10, 1 << 16).unwrap();
    log.set_failing(true);
    with_spool.publisher = Arc::new(Failover::new(primary, Arc::new(tiny), Arc::clone(&with_spool.metrics)).unwrap());
    let request = Request::post("/v1/batch")
        .header(header::AUTHORIZATION, "Bearer wk")
        .body(Body::from(batch(10, &[])))
        .unwrap();
    let response = app(with_spool).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

fn limited(log: &Arc<MemoryLog>, rate: u64, burst: u64) -> AppState {
    let mut limited = state(log);
    limited.limits = Arc::new(super::rate_limit::RateLimits::new(rate, burst));
    limited
}

async fn send(state: &AppState, body: Vec<u8>, headers: &[(&str, &str)]) -> axum::response::Response {
    let mut request = Request::post("/v1/batch").header(header::AUTHORIZATION, "Bearer wk");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    app(state.clone()).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap()
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_the_wait() {
    let log = Arc::new(MemoryLog::default());
    let limited = limited(&log, 10, 10);
    assert_eq!(send(&limited, batch(10, &[]), &[]).await.status(), StatusCode::OK);
    let refused = send(&limited, batch(5, &[]), &[]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers().get(header::RETRY_AFTER).unwrap(), "1");
    assert_eq!(log.records().len(), 10, "nothing of the refused request is stored");
    assert_eq!(limited.metrics.requests_rate_limited.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_key_with_nothing_left_is_refused_before_its_body_is_read() {
    let log = Arc::new(MemoryLog::default());
    let limited = limited(&log, 10, 10);
    assert_eq!(send(&limited, batch(10, &[]), &[]).await.status(), StatusCode::OK);
    // A body that would cost a decompression and fail it: the limit answers first.
    let not_gzip = send(&limited, b"not gzip at all".to_vec(), &[("content-encoding", "gzip")]).await;
    assert_eq!(not_gzip.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_batch_over_the_burst_gets_a_clear_permanent_error() {
    let log = Arc::new(MemoryLog::default());
    let limited = limited(&log, 10, 10);
    let response = send(&limited, batch(11, &[]), &[]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("11 events") && error.contains("burst of 10"), "{error}");
    assert_eq!(
        send(&limited, batch(10, &[]), &[]).await.status(),
        StatusCode::OK,
        "the bucket was left whole"
    );
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let client_of = |proxies: &[&str]| {
        let log = Arc::new(MemoryLog::default());
        let mut with = state(&log);
        let proxies: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
        with.trusted_proxies = Arc::new(super::client_address::TrustedProxies::parse(&proxies).unwrap());
        async move {
            let mut request = Request::post("/v1/batch")
                .header(header::AUTHORIZATION, "Bearer wk")
                .header("x-forwarded-for", "6.6.6.6")
                .body(Body::from(batch(1, &[])))
                .unwrap();
            let peer: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            assert_eq!(app(with).oneshot(request).await.unwrap().status(), StatusCode::OK);
            let line: Value = serde_json::from_str(&log.records()[0].payload).unwrap();
            line["collector"]["client_ip"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(
        client_of(&[]).await,
        "10.0.0.1",
        "no trusted proxy: the peer, whatever the header says"
    );
    assert_eq!(client_of(&["10.0.0.0/8"]).await, "6.6.6.6", "the peer is a trusted proxy");
}

#[tokio::test]
async fn every_answer_carries_its_request_id_for_the_log() {
    let log = Arc::new(MemoryLog::default());
    let state = state(&log);
    let plain = send(&state, batch(1, &[]), &[("x-request-id", "client-7.a_b")]).await;
    assert_eq!(
        plain.headers()["x-request-id"],
        "client-7.a_b",
        "a plain id of the client's is kept"
    );
    let refused = send(&state, b"{not json".to_vec(), &[("x-request-id", "bad id with spaces")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let made = refused.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        made.contains('-') && made != "bad id with spaces",
        "an unusable id is replaced: {made}"
    );
    let next = send(&state, batch(1, &[]), &[]).await;
    assert_ne!(next.headers()["x-request-id"].to_str().unwrap(), made, "ids are not reused");
}
