//! `segstream collector`: serve the tracking API and publish to Kafka.
//!
//! Contract: listens on `--listen`, answers as [`segstream_collector::api`] describes,
//! publishes accepted events to the configured events topic and rejected ones to the
//! failed-events topic with the idempotent producer; a batch the broker does not
//! acknowledge within `--publish-timeout` is fsynced to the spool in `--spool-dir`
//! instead (and republished by a drainer, oldest first); only if the spool is full or
//! failing is the request answered 503. The spool is recovered at start. On Ctrl-C or
//! SIGTERM it
//! stops accepting connections, finishes the requests in flight, flushes the producer
//! and exits (what is still spooled stays on disk for the next start). It fails closed:
//! without a `--write-key` it refuses to start, unless `--insecure-no-auth` opens the
//! API to anyone.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use segstream_rules::Schema;
use segstream_time::parse_duration;

use super::rules_source::load_schema;
use crate::cli::{CollectorArgs, CollectorHttpFlags};
use crate::error::CommandError;
use segstream_collector::api::AppState;
use segstream_collector::auth::WriteKeys;
use segstream_collector::client_address::TrustedProxies;
use segstream_collector::failover::{drain, Failover};
use segstream_collector::metrics::CollectorMetrics;
use segstream_collector::publish::{KafkaPublisher, Publisher};
use segstream_collector::rate_limit::RateLimits;
use segstream_collector::server::{interrupted_or_terminated, serve};
use segstream_collector::spool::Spool;
use segstream_config::DeploymentConfig;

/// Runs the collector until Ctrl-C.
pub fn run(args: &CollectorArgs) -> Result<ExitCode, CommandError> {
    let (keys, _) = write_keys(&args.http, MissingKey::Refuse)?;
    let config = DeploymentConfig::load(&args.config.config)?;
    let schema = Arc::new(load_schema(&config.schema.path)?);
    let timeout = parse_duration(&args.publish_timeout).map_err(|e| CommandError::Invalid(format!("--publish-timeout: {e}")))?;
    let publisher = Arc::new(
        KafkaPublisher::new(&config, Duration::from_millis(timeout.max(1) as u64), args.linger_ms).map_err(CommandError::Invalid)?,
    );
    let (spool, recovery) = Spool::open(&args.spool_dir, args.spool_capacity, args.spool_segment)
        .map_err(|e| CommandError::Invalid(format!("--spool-dir {}: {e}", args.spool_dir.display())))?;
    tracing::info!(
        "collector: spool {}: {} segments, {} batches waiting, {} torn bytes cut",
        args.spool_dir.display(),
        recovery.segments,
        recovery.frames,
        recovery.truncated_bytes
    );
    let spool = Arc::new(spool);
    let primary: Arc<dyn Publisher> = Arc::clone(&publisher) as Arc<dyn Publisher>;
    let metrics = Arc::new(CollectorMetrics::default());
    let failover = Failover::new(Arc::clone(&primary), Arc::clone(&spool), Arc::clone(&metrics))
        .map_err(|e| CommandError::Invalid(format!("starting the spool writer: {e}")))?;
    let state = app_state(
        (&args.http, keys),
        args.listen,
        schema,
        Arc::new(failover),
        (&config.topics.events, &config.topics.failed_events),
        config.classifier_config()?.future_tolerance_ms,
        Arc::clone(&metrics),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Invalid(format!("tokio runtime: {e}")))?;
    runtime
        .block_on(async {
            tokio::spawn(drain(primary, spool, Arc::clone(&metrics)));
            tokio::spawn(report_progress(Arc::clone(&metrics)));
            serve(args.listen, state, interrupted_or_terminated()).await
        })
        .map_err(CommandError::Invalid)?;
    publisher
        .flush(Duration::from_secs(10))
        .map_err(|e| CommandError::Invalid(format!("flushing on shutdown: {e}")))?;
    tracing::info!(
        events_accepted = CollectorMetrics::get(&metrics.events_accepted),
        requests_refused = CollectorMetrics::get(&metrics.requests_refused),
        requests_unavailable = CollectorMetrics::get(&metrics.requests_unavailable),
        "collector: stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// How often the collector says what it is doing.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Logs the collector's state every [`PROGRESS_EVERY`]: events accepted per second,
/// requests refused and unavailable, and the spool's depth.
async fn report_progress(metrics: Arc<CollectorMetrics>) {
    let get = CollectorMetrics::get;
    let mut last = (get(&metrics.events_accepted), std::time::Instant::now());
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        let accepted = get(&metrics.events_accepted);
        let per_second = (accepted - last.0) as f64 / last.1.elapsed().as_secs_f64();
        tracing::info!(
            events_per_second = per_second.round(),
            events_accepted = accepted,
            requests_refused = get(&metrics.requests_refused),
            requests_unavailable = get(&metrics.requests_unavailable),
            spool_bytes = get(&metrics.spool_bytes),
            "collector: progress"
        );
        last = (accepted, std::time::Instant::now());
    }
}

/// The accepted write keys. Fails closed: with none given, `made` says what to do —
/// make one (returned, to be shown to the user), or refuse to start — unless
/// `--insecure-no-auth` opens the API to anyone.
pub(super) fn write_keys(http: &CollectorHttpFlags, made: MissingKey) -> Result<(WriteKeys, Option<String>), CommandError> {
    if http.insecure_no_auth {
        tracing::warn!("collector: --insecure-no-auth: accepting events from anyone");
        return Ok((WriteKeys::new(&[]), None));
    }
    if !http.write_keys.is_empty() {
        return Ok((WriteKeys::new(&http.write_keys), None));
    }
    match made {
        MissingKey::Refuse => Err(CommandError::Invalid(
            "no --write-key given: the collector does not accept events from anyone without one (give --write-key KEY, repeatable, or --insecure-no-auth for a local experiment)".into(),
        )),
        MissingKey::Make => {
            let key = super::console_setup::random_token().map_err(|e| CommandError::Invalid(format!("making a write key: {e}")))?;
            Ok((WriteKeys::new(std::slice::from_ref(&key)), Some(key)))
        }
    }
}

/// What [`write_keys`] does when none is given.
pub(super) enum MissingKey {
    /// Refuse to start (`segstream collector`).
    Refuse,
    /// Make one (the demo, which prints it).
    Make,
}

/// The handlers' shared state from the tracking API's flags and its `keys`.
pub(super) fn app_state(
    (http, keys): (&CollectorHttpFlags, WriteKeys),
    listen: SocketAddr,
    schema: Arc<Schema>,
    publisher: Arc<dyn Publisher>,
    (events_topic, failed_topic): (&str, &str),
    future_tolerance_ms: u64,
    metrics: Arc<CollectorMetrics>,
) -> Result<AppState, CommandError> {
    let trusted_proxies = TrustedProxies::parse(&http.trusted_proxies).map_err(CommandError::Invalid)?;
    Ok(AppState {
        schema,
        keys,
        publisher,
        events_topic: events_topic.to_string(),
        failed_topic: failed_topic.to_string(),
        event_limit: http.event_limit,
        request_limit: http.request_limit,
        future_tolerance_ms,
        node: http.node.clone().unwrap_or_else(|| listen.to_string()),
        node_ip: listen.ip().to_string(),
        limits: Arc::new(RateLimits::new(http.rate_limit, http.rate_limit.saturating_mul(2))),
        trusted_proxies: Arc::new(trusted_proxies),
        metrics,
    })
}
