//! The collector's request path with and without its logging: one 100-event Segment
//! batch (the body `scripts/bench-collector` posts) through `app()` to a publisher that
//! acknowledges at once, so what is timed is the handler's own CPU: the write key, the
//! rate limit, the body's parse and judgement, enrichment, the records, the metrics,
//! and (new with structured logs) the request id, its `request` span and its header.
//!
//! - `no_subscriber`: no log subscriber installed (spans and events cost their
//!   callsite checks only);
//! - `json_logs_info`: the production set-up, a JSON subscriber at `info` writing to a
//!   sink, so every request's span is created, recorded and closed.
//!
//! The difference between the two is what logging adds to a request.
//! Run: `cargo bench -p segstream-collector --bench collector_request`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use segstream_collector::api::{app, AppState};
use segstream_collector::auth::WriteKeys;
use segstream_collector::metrics::CollectorMetrics;
use segstream_collector::publish::{Publisher, Publishing, Record};
use segstream_collector::rate_limit::RateLimits;
use tower::ServiceExt;

/// Acknowledges every batch at once, keeping nothing.
struct Acknowledged;

impl Publisher for Acknowledged {
    fn publish(&self, records: Vec<Record>) -> Publishing {
        drop(records);
        Box::pin(async { Ok(()) })
    }
    fn healthy(&self) -> bool {
        true
    }
}

/// The body of `scripts/bench/batch.lua`: 100 `ad_watched` events of 50 users.
fn batch() -> String {
    let items: Vec<String> = (1..=100)
        .map(|i| {
            format!(
                r#"{{"type":"track","messageId":"m{i}","userId":"u{}","event":"ad_watched","properties":{{"ad_id":"A{i}","network":"n1","placement":"level_end"}},"originalTimestamp":"2026-11-26T10:00:00Z"}}"#,
                i % 50
            )
        })
        .collect();
    format!(r#"{{"batch":[{}],"sentAt":"2026-11-26T10:00:01Z"}}"#, items.join(","))
}

fn state() -> AppState {
    let schema = segstream_rules::files::load_schema(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/schema.toml"
    )))
    .unwrap_or_else(|e| panic!("configs/schema.toml: {e:?}"));
    AppState {
        schema: Arc::new(schema),
        keys: WriteKeys::new(&["wk".to_string()]),
        publisher: Arc::new(Acknowledged),
        events_topic: "events".into(),
        failed_topic: "failed-events".into(),
        event_limit: 32 * 1024,
        request_limit: 500 * 1024,
        future_tolerance_ms: 60_000,
        node: "bench".into(),
        node_ip: "127.0.0.1".into(),
        limits: Arc::new(RateLimits::new(0, 0)),
        trusted_proxies: Arc::default(),
        metrics: Arc::new(CollectorMetrics::default()),
    }
}

fn collector_request_bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (router, body) = (app(state()), batch());
    let post = || {
        let request = Request::post("/v1/batch")
            .header(header::AUTHORIZATION, "Bearer wk")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let response = runtime.block_on(router.clone().oneshot(request)).unwrap_or_else(|e| panic!("{e}"));
        assert!(response.status().is_success(), "{}", response.status());
    };
    let mut group = c.benchmark_group("collector_request");
    group.throughput(Throughput::Elements(100));
    group.bench_function("no_subscriber", |b| b.iter(post));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("json_logs_info", |b| b.iter(post));
    });
    group.finish();
}

criterion_group!(collector_request_group, collector_request_bench);
criterion_main!(collector_request_group);
