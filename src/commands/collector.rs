//! `segstream collector`: serve the tracking API and publish to Kafka.
//!
//! Contract: listens on `--listen`, answers as [`crate::collector::api`] describes,
//! publishes accepted events to the configured events topic and rejected ones to the
//! failed-events topic with the idempotent producer; a batch the broker does not
//! acknowledge within `--publish-timeout` is fsynced to the spool in `--spool-dir`
//! instead (and republished by a drainer, oldest first); only if the spool is full or
//! failing is the request answered 503. The spool is recovered at start. On Ctrl-C it
//! stops accepting connections, finishes the requests in flight, flushes the producer
//! and exits (what is still spooled stays on disk for the next start).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use segstream_dataflows::time::parse_duration;

use super::schema::load_schema;
use crate::cli::CollectorArgs;
use crate::collector::api::{app, AppState};
use crate::collector::auth::WriteKeys;
use crate::collector::failover::{drain, Failover};
use crate::collector::metrics::CollectorMetrics;
use crate::collector::publish::{KafkaPublisher, Publisher};
use crate::collector::rate_limit::RateLimits;
use crate::collector::spool::Spool;
use crate::config::DeploymentConfig;
use crate::error::CommandError;

/// Runs the collector until Ctrl-C.
pub fn run(args: &CollectorArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let schema = Arc::new(load_schema(&config.schema.path)?);
    let timeout = parse_duration(&args.publish_timeout).map_err(|e| CommandError::Invalid(format!("--publish-timeout: {e}")))?;
    let publisher = Arc::new(
        KafkaPublisher::new(&config, Duration::from_millis(timeout.max(1) as u64), args.linger_ms).map_err(CommandError::Invalid)?,
    );
    let (spool, recovery) = Spool::open(&args.spool_dir, args.spool_capacity, args.spool_segment)
        .map_err(|e| CommandError::Invalid(format!("--spool-dir {}: {e}", args.spool_dir.display())))?;
    println!(
        "collector: spool {}: {} segments, {} batches waiting, {} torn bytes cut",
        args.spool_dir.display(),
        recovery.segments,
        recovery.frames,
        recovery.truncated_bytes
    );
    let spool = Arc::new(spool);
    let primary: Arc<dyn Publisher> = Arc::clone(&publisher) as Arc<dyn Publisher>;
    let metrics = Arc::new(CollectorMetrics::default());
    let keys = WriteKeys::new(&args.write_keys);
    if !keys.enabled() {
        eprintln!("collector: no --write-key given: accepting events from anyone");
    }
    let state = AppState {
        schema,
        keys,
        publisher: Arc::new(Failover::new(Arc::clone(&primary), Arc::clone(&spool), Arc::clone(&metrics))),
        events_topic: config.topics.events.clone(),
        failed_topic: config.topics.failed_events.clone(),
        event_limit: args.event_limit,
        request_limit: args.request_limit,
        future_tolerance_ms: config.classifier_config()?.future_tolerance_ms,
        node: args.node.clone().unwrap_or_else(|| args.listen.to_string()),
        node_ip: args.listen.ip().to_string(),
        limits: Arc::new(RateLimits::new(args.rate_limit, args.rate_limit.saturating_mul(2))),
        metrics: Arc::clone(&metrics),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Invalid(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CommandError::Invalid(format!("--listen {}: {e}", args.listen)))?;
        println!(
            "collector: listening on http://{}",
            listener.local_addr().map_or(args.listen, |a| a)
        );
        tokio::spawn(drain(primary, spool, Arc::clone(&metrics)));
        let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| CommandError::Invalid(format!("serving: {e}")))
    })?;
    publisher
        .flush(Duration::from_secs(10))
        .map_err(|e| CommandError::Invalid(format!("flushing on shutdown: {e}")))?;
    println!("collector: stopped");
    Ok(ExitCode::SUCCESS)
}
