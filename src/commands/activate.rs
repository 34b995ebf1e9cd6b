//! `segstream activate`: deliver `segment-changes` to every partner of the partners
//! file; `activate check`, `activate status` and `activate replay`.
//!
//! Contract: the activator runs one pipeline per partner (`segstream-activation`), each
//! reading `segment-changes` with a consumer group of its own and committing only past
//! changes that are delivered or dead-lettered. Identifiers come from the profile store
//! (`user:<id>:data` in Redis); dead letters go to `--dead-letter-dir`. It serves
//! `/metrics` and `/status` on `--status-addr`, prints each partner's state every five
//! seconds, and on Ctrl-C or SIGTERM stops reading, delivers what is in flight and
//! commits. `replay` delivers one partner's dead letters again, or every change from a
//! time, through the same pipeline (with the same delivery ids).

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segstream_activation::activator::{Activator, ChangeSource, VecSource};
use segstream_activation::config::PartnerConfig;
use segstream_activation::dead_letters::DeadLetterStore;
use segstream_activation::handed::HandedFns;
use segstream_activation::http::{HttpClient, PartnerRequest};
use segstream_activation::kafka::{KafkaChangeSource, KafkaTopics};
use segstream_activation::mapping::{MappingFns, MappingMemory};
use segstream_activation::metrics::PartnerStatus;
use segstream_activation::metrics_text::PartnerMetricsCollector;
use segstream_activation::pipeline::{Pipeline, Services};
use segstream_collector::server::interrupted_or_terminated;
use segstream_config::DeploymentConfig;
use segstream_redis::partner_state;
use segstream_redis::user_data::read_profiles;
use segstream_redis::Retrying;
use segstream_telemetry::exposition::Exposition;
use segstream_telemetry::metrics_http::{metrics_route, serve_routes, Route};
use segstream_time::{parse_duration, parse_timestamp};

use super::partners_source::load_checked_partners;
use super::rules_source::load_schema_and_rules;
use crate::cli::{
    ActivateAction, ActivateArgs, ActivateBenchArgs, ActivateCheckArgs, ActivateCommand, ActivateReplayArgs, ActivateStatusArgs,
    PartnersArgs,
};
use crate::error::CommandError;

/// How long stopping waits for what is in flight.
const DRAIN: Duration = Duration::from_secs(15);
/// How often the state is printed.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Runs the chosen action.
pub fn run(command: &ActivateCommand) -> Result<ExitCode, CommandError> {
    match &command.action {
        None => activate(&command.run),
        Some(ActivateAction::Check(args)) => check(args),
        Some(ActivateAction::Status(args)) => status(args),
        Some(ActivateAction::Replay(args)) => replay(args),
        Some(ActivateAction::Bench(args)) => bench(args),
    }
}

fn partners(config: &DeploymentConfig, args: &PartnersArgs) -> Result<Vec<PartnerConfig>, CommandError> {
    let (_, defs) = load_schema_and_rules(&config.schema.path, &args.rules)?;
    load_checked_partners(&args.partners, &defs)
}

fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("activate")
        .enable_all()
        .build()
        .map_err(|e| CommandError::Invalid(format!("tokio runtime: {e}")))
}

fn services(config: &DeploymentConfig, dead_letter_dir: &std::path::Path) -> Result<Services, CommandError> {
    let redis = Mutex::new(Retrying::new(&config.redis.url).map_err(CommandError::Invalid)?);
    let identities = move |users: &[String]| -> Result<Vec<Option<String>>, String> {
        let mut redis = redis.lock().map_err(|_| "the profile-store connection was poisoned".to_string())?;
        read_profiles(&mut redis, users)
    };
    let state = Arc::new(Mutex::new(Retrying::new(&config.redis.url).map_err(CommandError::Invalid)?));
    let ttl = config.data_ttl_seconds()?;
    let (reader, writer) = (Arc::clone(&state), state);
    let handed = HandedFns {
        latest: move |partner: &str, keys: &[(String, String)]| {
            let mut redis = reader.lock().map_err(|_| "the partner-state connection was poisoned".to_string())?;
            partner_state::latest(&mut redis, partner, keys)
        },
        record: move |partner: &str, changes: &[(String, String, u64)]| {
            let mut redis = writer.lock().map_err(|_| "the partner-state connection was poisoned".to_string())?;
            partner_state::record(&mut redis, partner, changes, ttl);
            Ok(())
        },
    };
    let dead_letters = DeadLetterStore::open(dead_letter_dir).map_err(|source| CommandError::Read {
        path: dead_letter_dir.to_path_buf(),
        source,
    })?;
    Ok(Services {
        http: HttpClient::default(),
        identities: Arc::new(identities),
        dead_letters: Arc::new(dead_letters),
        topics: Some(Arc::new(KafkaTopics::new(config).map_err(CommandError::Invalid)?)),
        handed: Arc::new(handed),
    })
}

/// The partners' held segments, in Redis (`partner-mapping:<id>`).
fn mapping_memory(config: &DeploymentConfig) -> Result<Arc<dyn MappingMemory>, CommandError> {
    let redis = Arc::new(Mutex::new(Retrying::new(&config.redis.url).map_err(CommandError::Invalid)?));
    let (reader, writer) = (Arc::clone(&redis), redis);
    Ok(Arc::new(MappingFns {
        recall: move |partner: &str| {
            let mut redis = reader
                .lock()
                .map_err(|_| "the partner-mapping connection was poisoned".to_string())?;
            let held =
                partner_state::mapped_segments(&mut redis, partner).map_err(|e| format!("reading the segments {partner} holds: {e}"))?;
            Ok(held.map(|segments| segments.into_iter().collect::<BTreeSet<String>>()))
        },
        remember: move |partner: &str, segments: &BTreeSet<String>| {
            let mut redis = writer
                .lock()
                .map_err(|_| "the partner-mapping connection was poisoned".to_string())?;
            let segments: Vec<String> = segments.iter().cloned().collect();
            partner_state::set_mapped_segments(&mut redis, partner, &segments)
                .map_err(|e| format!("recording the segments {partner} holds: {e}"))
        },
    }))
}

/// Prints the partners' status table (`activate status`).
fn print_status(statuses: &[PartnerStatus]) {
    status_rows(statuses).iter().for_each(|row| println!("{row}"));
}

/// Logs the partners' status, a line each (the running activator's progress).
fn log_status(statuses: &[PartnerStatus]) {
    status_rows(statuses).iter().for_each(|row| tracing::info!("{}", row.trim_start()));
}

/// A row per partner.
fn status_rows(statuses: &[PartnerStatus]) -> Vec<String> {
    statuses
        .iter()
        .map(|s| {
            let state = s.state();
            format!(
                "  {:<20} {:<12} {:>10} sent {:>8} pending {:>8} retried {:>6} dead  lag {:>8}  p50 {:>5} ms  p99 {:>5} ms  {state}{}",
                s.partner,
                s.kind,
                s.delivered,
                s.pending,
                s.retried,
                s.dead_lettered,
                s.lag,
                s.latency_p50_ms,
                s.latency_p99_ms,
                if s.last_error.is_empty() {
                    String::new()
                } else {
                    format!("  last error: {}", s.last_error)
                }
            )
        })
        .collect()
}

/// Serves `/metrics` and `/status` of `pipelines`.
fn serve_status(listen: std::net::SocketAddr, pipelines: Vec<Pipeline>) -> Result<(), CommandError> {
    let listener = std::net::TcpListener::bind(listen).map_err(|e| CommandError::Invalid(format!("--status-addr {listen}: {e}")))?;
    tracing::info!(
        "activate: metrics on http://{0}/metrics, status on http://{0}/status",
        listener.local_addr().map_or(listen, |a| a)
    );
    let exposition = Exposition::of(PartnerMetricsCollector(pipelines.clone()));
    let for_status = pipelines;
    serve_routes(
        listener,
        vec![
            metrics_route(exposition),
            Route {
                path: "/status",
                content_type: "application/json",
                render: Box::new(move || {
                    let statuses: Vec<PartnerStatus> = for_status.iter().map(Pipeline::status).collect();
                    serde_json::to_string(&statuses).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
                }),
            },
        ],
    );
    Ok(())
}

fn activate(args: &ActivateArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let partners = partners(&config, &args.partners)?;
    let duration = match &args.duration {
        Some(text) => Some(Duration::from_millis(
            parse_duration(text).map_err(|e| CommandError::Invalid(format!("--duration: {e}")))? as u64,
        )),
        None => None,
    };
    let runtime = runtime()?;
    let services = services(&config, &args.partners.dead_letter_dir)?;
    let names: Vec<String> = partners.iter().map(|p| format!("{} ({})", p.id, p.kind.name())).collect();
    let memory = mapping_memory(&config)?;
    let mut activator = Activator::start(runtime.handle(), partners, &services, |partner| {
        KafkaChangeSource::open(&config, partner, Arc::clone(&memory)).map(|s| Box::new(s) as Box<dyn ChangeSource>)
    })
    .map_err(CommandError::Invalid)?;
    tracing::info!(
        "activate: {} from {} at {}; identifiers from {}; dead letters in {}",
        names.join(", "),
        config.topics.changes,
        config.kafka.brokers,
        config.redis.url,
        args.partners.dead_letter_dir.display()
    );
    if let Some(listen) = args.status_addr.0 {
        serve_status(listen, activator.pipelines().cloned().collect())?;
    }
    let started = Instant::now();
    loop {
        let interrupted = runtime.block_on(async {
            tokio::select! {
                () = interrupted_or_terminated() => true,
                () = tokio::time::sleep(REPORT_EVERY) => false,
            }
        });
        tracing::info!("activate: t={:.0}s", started.elapsed().as_secs_f64());
        log_status(&activator.status());
        if interrupted || duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }
    tracing::info!("activate: stopping; delivering what is in flight (up to {} s)", DRAIN.as_secs());
    activator.stop(DRAIN);
    log_status(&activator.status());
    tracing::info!("activate: stopped");
    Ok(ExitCode::SUCCESS)
}

fn check(args: &ActivateCheckArgs) -> Result<ExitCode, CommandError> {
    let (_, defs) = load_schema_and_rules(&args.schema.schema, &args.partners.rules)?;
    let partners = load_checked_partners(&args.partners.partners, &defs)?;
    for p in &partners {
        println!(
            "{}: {}, {} segment(s), batches of {}",
            p.id,
            p.kind.name(),
            p.segments.len(),
            p.batch_size
        );
    }
    println!("{}: {} partner(s), no problems", args.partners.partners.display(), partners.len());
    Ok(ExitCode::SUCCESS)
}

fn status(args: &ActivateStatusArgs) -> Result<ExitCode, CommandError> {
    let runtime = runtime()?;
    let request = PartnerRequest {
        method: "GET",
        url: format!("http://{}/status", args.addr),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let response = runtime
        .block_on(HttpClient::default().send(&request, Duration::from_secs(5)))
        .map_err(|e| CommandError::Invalid(format!("no activator answers on {}: {e}", args.addr)))?;
    let statuses: Vec<PartnerStatus> = serde_json::from_str(&response.body)
        .map_err(|e| CommandError::Invalid(format!("{} answered something else than a status: {e}", args.addr)))?;
    print_status(&statuses);
    Ok(ExitCode::SUCCESS)
}

fn replay(args: &ActivateReplayArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let partner = partners(&config, &args.partners)?
        .into_iter()
        .find(|p| p.id == args.partner)
        .ok_or_else(|| CommandError::Invalid(format!("no partner {:?} in {}", args.partner, args.partners.partners.display())))?;
    let services = services(&config, &args.partners.dead_letter_dir)?;
    let changes = match &args.from {
        Some(from) => {
            let from_ms = parse_timestamp(from).map_err(|e| CommandError::Invalid(format!("--from: {e}")))?;
            segstream_activation::kafka::changes_since(&config, from_ms).map_err(CommandError::Invalid)?
        }
        None => {
            let (letters, moved) = services.dead_letters.take(&partner.id).map_err(CommandError::Invalid)?;
            println!(
                "replay: {} dead letters of {} (moved to {})",
                letters.len(),
                partner.id,
                moved.display()
            );
            letters.iter().enumerate().map(|(line, l)| l.change(line as i64)).collect()
        }
    };
    let total = changes.len() as u64;
    let runtime = runtime()?;
    let mut source = Some(VecSource::new(changes));
    let mut activator = Activator::start(runtime.handle(), vec![partner], &services, |_| {
        source
            .take()
            .map(|s| Box::new(s) as Box<dyn ChangeSource>)
            .ok_or_else(|| "one partner only".to_string())
    })
    .map_err(CommandError::Invalid)?;
    while activator.read() < total {
        std::thread::sleep(Duration::from_millis(50));
    }
    activator.stop(Duration::from_secs(24 * 3600));
    let status = activator.status();
    print_status(&status);
    let again = status.first().map_or(0, |s| s.dead_lettered);
    println!("replay: {total} change(s) replayed, {again} dead-lettered again");
    Ok(if again == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn millis_flag(flag: &str, text: &str) -> Result<Duration, CommandError> {
    parse_duration(text)
        .map(|ms| Duration::from_millis(ms.max(0) as u64))
        .map_err(|e| CommandError::Invalid(format!("{flag}: {e}")))
}

fn bench(args: &ActivateBenchArgs) -> Result<ExitCode, CommandError> {
    use segstream_activation::bench::{isolation, throughput};
    let scratch = std::env::temp_dir().join(format!("segstream-activate-bench-{}", std::process::id()));
    let t = throughput(args.changes, args.batch, &scratch).map_err(CommandError::Invalid)?;
    println!(
        "throughput: {} changes delivered in batches of {} to a local webhook partner in {:.2} s = {:.0} changes/s; {:.2} CPU-s for activator and partner together = {:.0} changes per CPU-second",
        t.delivered,
        args.batch,
        t.seconds,
        t.delivered as f64 / t.seconds,
        t.cpu_seconds,
        t.delivered as f64 / t.cpu_seconds.max(1e-9)
    );
    if !args.throughput_only {
        let duration = millis_flag("--duration", &args.duration)?;
        let outage = millis_flag("--outage", &args.outage)?;
        for (label, down) in [("without an outage", None), ("with partner A down", Some(outage))] {
            let run = isolation(args.rate, duration, down, &scratch.join(label.replace(' ', "-"))).map_err(CommandError::Invalid)?;
            println!(
                "isolation {label} ({} changes/s for {} s{}): B p50 {} ms, p99 {} ms, {} delivered; A p99 {} ms, {} delivered + {} superseded of {}, {} dead-lettered",
                args.rate,
                duration.as_secs(),
                down.map_or(String::new(), |o| format!(", A down {} s", o.as_secs())),
                run.healthy.latency_p50_ms,
                run.healthy.latency_p99_ms,
                run.healthy.delivered,
                run.outaged.latency_p99_ms,
                run.outaged.delivered,
                run.outaged.superseded,
                run.fed,
                run.outaged.dead_lettered
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(ExitCode::SUCCESS)
}
