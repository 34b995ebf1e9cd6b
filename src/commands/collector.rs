//! `segstream collector`: serve the tracking API and publish to Kafka.
//!
//! Contract: listens on `--listen`, answers as [`crate::collector::api`] describes,
//! publishes accepted events to the configured events topic and rejected ones to the
//! failed-events topic, with the idempotent producer and a `--publish-timeout` after which
//! a request is answered 503. On Ctrl-C it stops accepting connections, finishes the
//! requests in flight, flushes the producer and exits.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use segstream_dataflows::time::parse_duration;

use super::schema::load_schema;
use crate::cli::CollectorArgs;
use crate::collector::api::{app, AppState};
use crate::collector::auth::WriteKeys;
use crate::collector::metrics::CollectorMetrics;
use crate::collector::publish::KafkaPublisher;
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
    let keys = WriteKeys::new(&args.write_keys);
    if !keys.enabled() {
        eprintln!("collector: no --write-key given: accepting events from anyone");
    }
    let state = AppState {
        schema,
        keys,
        publisher: Arc::clone(&publisher) as Arc<dyn crate::collector::publish::Publisher>,
        events_topic: config.topics.events.clone(),
        failed_topic: config.topics.failed_events.clone(),
        event_limit: args.event_limit,
        request_limit: args.request_limit,
        future_tolerance_ms: config.classifier_config()?.future_tolerance_ms,
        node: args.node.clone().unwrap_or_else(|| args.listen.to_string()),
        node_ip: args.listen.ip().to_string(),
        metrics: Arc::new(CollectorMetrics::default()),
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
