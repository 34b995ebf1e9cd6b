//! `segstream demo`: the whole pipeline in one process on generated traffic.
//!
//! Contract: starts the classifier with W workers on the built-in traffic generator
//! (each worker generates its own users' events, decoded like real input), loads the
//! example rules and generated profiles and stats, prints one progress line per second
//! (events/s, watermark lag, late, duplicates dropped, rejected, changes/s, top segment
//! sizes) and writes membership changes as NDJSON. With `--watch-rules` it re-reads the
//! rule files every second and applies a valid edit live (an invalid one is reported and
//! ignored). With `--metrics-addr` it serves Prometheus metrics. It serves the tracking
//! API on `--collector` (127.0.0.1:8080 unless `off`; the collector, without a broker):
//! posted events go through the in-process log into the same classifier, next to the
//! generated ones. A collector that cannot listen is reported; the demo goes on.
//! Membership changes are activated: every partner of `--partners` reads them from the
//! in-process change log in a pipeline of its own, and a local partner on
//! `--partner-receiver` records what it receives (`out/partners/`). The rules console
//! runs on `--console` (see [`super::demo_console`]): its repository decides the rules
//! in force, and what is published there reaches worker 0 through the rule mailbox.
//! Every generated and posted line lands in the lake's raw table at `--lake` (see
//! [`super::demo_lake`]); the stats job computes the users' `[stats]` from it and worker
//! 0 upserts the changed ones into the classifier (see [`super::demo_stats`]).
//! Runs for `--duration`, or until interrupted; on exit the partners get what is in flight.

use segstream_activation::metrics_text::PartnerMetricsCollector;
use segstream_lake::metrics::LakeMetrics;
use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::dataflow::{build_with, Checkpointing, Shared};
use segstream_dataflows::operators::classify::MembershipUpdate;
use segstream_rules::UdfRegistry;
use segstream_time::parse_duration;
use segstream_traffic::{Traffic, TrafficConfig};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

use super::collector::{app_state, write_keys, MissingKey};
use super::demo_checkpoints::DemoCheckpoints;
use super::demo_console::{self, ConsoleLink};
use super::demo_lake::DemoLake;
use super::demo_stats;
use super::partners_source::{load_demo_partners, webhook_secrets};
use super::rules_source::load_schema_and_rules;
use crate::cli::DemoArgs;
use crate::error::CommandError;
use segstream_collector::metrics::CollectorMetrics;
use segstream_collector::server::serve as serve_http;
use segstream_dataflows::classifier::merged_source::Merged;
use segstream_dataflows::live::{drive, summary, RuleAcks, RuleMailbox};
use segstream_dataflows::user_lookup::UserLookups;
use segstream_embedded::activation::{ActivationSetup, EmbeddedActivation};
use segstream_embedded::audience_board::AudienceBoard;
use segstream_embedded::change_log::ChangeLog;
use segstream_embedded::change_writer::ChangeWriter;
use segstream_embedded::dry_run::DryRuns;
use segstream_embedded::event_log::{InProcessLog, LogSource};
use segstream_embedded::generator_source::GeneratorSource;
use segstream_embedded::line_file::{LineFile, Tee};
use segstream_embedded::line_tap::{LineTap, Tapped};
use segstream_embedded::rule_watcher::RuleWatcher;
use segstream_telemetry::exposition::Exposition;
use segstream_telemetry::metrics_http::serve;

/// Updates collected on a worker between two steps.
type Buffer<T> = Rc<RefCell<Vec<T>>>;

/// An update of the `sizes` collection.
type SizeUpdate = ((String, isize), u64, isize);

use segstream_time::wall_clock_ms;

/// Changes the in-process change log keeps behind its slowest partner.
const CHANGE_LOG_CAPACITY: usize = 5_000_000;
/// How long the partners get, on exit, for what is in flight.
const ACTIVATION_DRAIN: Duration = Duration::from_secs(10);

/// Starts activation when `--partners` names a file.
fn start_activation(
    args: &DemoArgs,
    defs: &[segstream_rules::SegmentDef],
    traffic: TrafficConfig,
    log: &Arc<ChangeLog>,
) -> Result<Option<EmbeddedActivation>, CommandError> {
    let flags = &args.activation;
    if flags.partners.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let partners = load_demo_partners(std::path::Path::new(&flags.partners), defs)?;
    let names: Vec<String> = partners.iter().map(|p| format!("{} ({})", p.id, p.kind.name())).collect();
    let setup = ActivationSetup {
        receiver_secrets: webhook_secrets(&partners),
        partners,
        receiver_addr: flags.partner_receiver.0,
        out_dir: flags.partners_out.clone(),
        dead_letter_dir: flags.dead_letters.clone(),
        traffic,
    };
    let activation = EmbeddedActivation::start(setup, log).map_err(CommandError::Invalid)?;
    match activation.receiver_addr {
        Some(addr) => tracing::info!(
            "activation: {} -> local partner http://{addr}, receipts in {}/<partner>.ndjson, dead letters in {}",
            names.join(", "),
            flags.partners_out.display(),
            flags.dead_letters.display()
        ),
        None => tracing::info!("activation: {}; dead letters in {}", names.join(", "), flags.dead_letters.display()),
    }
    Ok(Some(activation))
}

/// One line of partner deliveries for the progress output.
fn partner_line(activation: &EmbeddedActivation) -> String {
    let parts: Vec<String> = activation
        .status()
        .iter()
        .map(|s| {
            let state = match s.state() {
                "ok" => String::new(),
                other => format!(" ({other})"),
            };
            format!(
                "{} {} sent, {} pending, {} dead, p99 {} ms{state}",
                s.partner, s.delivered, s.pending, s.dead_lettered, s.latency_p99_ms
            )
        })
        .collect();
    format!("partners: {}", parts.join(" · "))
}

/// The events topic's name in the in-process log.
const EVENTS_TOPIC: &str = "events";
/// Partitions of the in-process log per worker.
const LOG_PARTITIONS_PER_WORKER: usize = 4;
/// Posted events that may wait for the classifier before the collector answers 503.
const LOG_CAPACITY: u64 = 1_000_000;
/// The log's partitions are numbered from here, after the generator's.
const POSTED_PARTITION_OFFSET: u32 = 1 << 20;

/// The sources' tap for partitions numbered from `partition_base`: the lake's, the line
/// file, both, or none.
fn input_tap(lake: Option<&DemoLake>, line_file: Option<&Arc<LineFile>>, partition_base: u32) -> Option<Tapped> {
    let file = line_file.map(|f| Arc::clone(f) as Arc<dyn LineTap>);
    let tap = match (lake.map(|l| l.tapped(partition_base).tap), file) {
        (Some(lake), Some(file)) => Arc::new(Tee(lake, file)) as Arc<dyn LineTap>,
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return None,
    };
    Some(Tapped { tap, partition_base })
}

/// Serves the tracking API into `log` on a thread of its own until `stop` is raised.
fn serve_collector(
    args: &DemoArgs,
    listen: std::net::SocketAddr,
    schema: Arc<segstream_rules::Schema>,
    log: Arc<InProcessLog>,
    future_tolerance_ms: u64,
    (metrics, stop): (Arc<CollectorMetrics>, Arc<AtomicBool>),
) -> Result<(), CommandError> {
    let (keys, made) = write_keys(&args.http, MissingKey::Make)?;
    let key = match (&made, args.http.write_keys.first()) {
        (Some(made), _) => format!("write key {made} (made for this run; --write-key sets one)"),
        (None, Some(_)) => "the --write-key given".to_string(),
        (None, None) => "no write key (--insecure-no-auth)".to_string(),
    };
    // To standard output, not the log: the line can carry the write key made for the run.
    println!("collector: tracking API (POST /v1/batch, /v1/track, /v1/events; Authorization: Bearer KEY), {key}");
    let state = app_state(
        (&args.http, keys),
        listen,
        schema,
        log,
        (EVENTS_TOPIC, "failed-events"),
        future_tolerance_ms,
        metrics,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| CommandError::Invalid(format!("tokio runtime: {e}")))?;
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            let stopped = async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            if let Err(e) = runtime.block_on(serve_http(listen, state, stopped)) {
                tracing::warn!("the demo runs without its collector: {e}");
            }
        })
        .map_err(|e| CommandError::Invalid(format!("starting the collector: {e}")))?;
    Ok(())
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<ExitCode, CommandError> {
    let (schema, file_defs) = load_schema_and_rules(&args.schema.schema, &args.rules)?;
    let duration = match &args.duration {
        Some(text) => Some(Duration::from_millis(
            parse_duration(text).map_err(|e| CommandError::Invalid(format!("--duration: {e}")))? as u64,
        )),
        None => None,
    };
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = super::classifier_flags::classifier_config(&args.classifier)?;
    let metrics = Arc::new(ClassifierMetrics::default());
    // Like the collector: a taken address is reported and the demo goes on without it.
    let metrics_listener = args.metrics_addr.0.and_then(|addr| {
        std::net::TcpListener::bind(addr)
            .inspect_err(|e| tracing::warn!("the demo runs without its metrics page: --metrics-addr {addr}: {e}"))
            .ok()
    });
    let (collector_metrics, lake_metrics) = (Arc::new(CollectorMetrics::default()), Arc::new(LakeMetrics::default()));
    let writer = Arc::new(Mutex::new(ChangeWriter::create(&args.out).map_err(|source| {
        CommandError::Read {
            path: args.out.clone(),
            source,
        }
    })?));
    let stop = Arc::new(AtomicBool::new(false));
    let schema = Arc::new(schema);
    let checkpoints = Arc::new(DemoCheckpoints::start(
        &args.checkpoints,
        &args.checkpoint_every,
        workers,
        &metrics,
    )?);
    let link = ConsoleLink {
        mailbox: Arc::new(RuleMailbox::default()),
        board: Arc::new(Mutex::new(AudienceBoard::default())),
        acks: Arc::new(RuleAcks::new(workers)),
        dry_runs: Arc::new(DryRuns::new(workers)),
        metrics: Arc::clone(&metrics),
        lookups: Arc::new(UserLookups::expecting(workers)),
    };
    // With the console, the repository decides the rules in force (edits made there last).
    let (defs, rules_version) = demo_console::start(args, &schema, &link, &stop)?.unwrap_or((file_defs, 0));
    let (board, mailbox, acks, dry_runs) = (
        Arc::clone(&link.board),
        Arc::clone(&link.mailbox),
        Arc::clone(&link.acks),
        Arc::clone(&link.dry_runs),
    );
    let traffic = TrafficConfig {
        users: args.users,
        seed: args.seed,
        ..TrafficConfig::default()
    };
    let clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(wall_clock_ms);
    let shared = Shared {
        schema: Arc::clone(&schema),
        udfs: Arc::new(UdfRegistry::new()),
        config,
        metrics: Arc::clone(&metrics),
        clock: Arc::clone(&clock),
        source_budget: 4_096,
        lookups: Arc::clone(&link.lookups),
    };
    tracing::info!(
        "segstream demo: {} users, {} events/s, {} workers, {} segments; changes -> {}",
        args.users,
        args.rate,
        workers,
        defs.len(),
        args.out.display()
    );
    tracing::info!(
        "classifier: late events apply at their partition's watermark (late= below); users idle for --user-ttl ({} s) are evicted (evicted= below; segstream_users, segstream_users_dormant, segstream_users_evicted_total at /metrics)",
        config.user_ttl_ms / 1_000
    );
    // Rules, profiles and stats are in force from the tick the demo starts at.
    let start_tick = config.tick_of(wall_clock_ms());
    acks.posted(rules_version, start_tick);
    // Without a collector nothing is posted: the log has no partitions to hold the watermark.
    let log_partitions = if args.collector.0.is_some() {
        workers * LOG_PARTITIONS_PER_WORKER
    } else {
        0
    };
    let log = Arc::new(InProcessLog::new(EVENTS_TOPIC, log_partitions, LOG_CAPACITY));
    let generated_partitions = if args.rate > 0.0 { workers } else { 0 };
    let lake_partitions: Vec<u32> = (0..generated_partitions as u32)
        .chain((0..log_partitions as u32).map(|p| POSTED_PARTITION_OFFSET + p))
        .collect();
    let lake_every = parse_duration(&args.lake_every).map_err(|e| CommandError::Invalid(format!("--lake-every: {e}")))?;
    let lake_every = Duration::from_millis(lake_every.max(0) as u64);
    let lake = DemoLake::start(&args.lake, &lake_partitions, lake_every, &schema, Arc::clone(&lake_metrics))?;
    if let Some(lake) = &lake {
        tracing::info!(
            "lake: every generated and posted line lands in the raw table {} (Delta Lake, committed every second); the curated table {} follows it every {} s",
            lake.raw(),
            lake.curated(),
            lake_every.as_secs_f64()
        );
        tracing::info!(
            "stats: after each compaction the stats job computes the users' [stats] from the lake (daily tiles in {}); the classifier takes the changed ones, in place of the generated history",
            lake.tiles()
        );
    }
    let stats_inbox = lake.as_ref().map(DemoLake::stats_inbox);
    let line_file = match &args.tap_lines {
        Some(path) => {
            tracing::info!("tap: every input line the classifier reads goes to {}", path.display());
            Some(Arc::new(LineFile::create(path).map_err(CommandError::Invalid)?))
        }
        None => None,
    };
    let (generated_tap, posted_tap) = (
        input_tap(lake.as_ref(), line_file.as_ref(), 0),
        input_tap(lake.as_ref(), line_file.as_ref(), POSTED_PARTITION_OFFSET),
    );
    if let Some(listen) = args.collector.0 {
        serve_collector(
            args,
            listen,
            Arc::clone(&schema),
            Arc::clone(&log),
            config.future_tolerance_ms,
            (Arc::clone(&collector_metrics), Arc::clone(&stop)),
        )?;
    }
    let change_log = Arc::new(ChangeLog::new(CHANGE_LOG_CAPACITY));
    let activation = start_activation(args, &defs, traffic, &change_log)?;
    if let Some(listener) = metrics_listener {
        // One page for every component of the demo, so the dashboard works on it.
        // Only what runs: a component that is off exports nothing rather than zeros.
        let mut exposition = Exposition::of(Arc::clone(&metrics));
        let mut on_page = vec!["classifier"];
        if args.collector.0.is_some() {
            exposition = exposition.with(collector_metrics);
            on_page.push("collector");
        }
        if lake.is_some() {
            exposition = exposition.with(lake_metrics);
            on_page.push("lake");
        }
        if let Some(activation) = &activation {
            exposition = exposition.with(PartnerMetricsCollector(activation.pipelines()));
            on_page.push("partners");
        }
        tracing::info!(
            "metrics: http://{}/metrics ({}; scrape this page, not also the collector's own; \
             Grafana dashboard configs/grafana/segstream.json, alert rules configs/prometheus/alerts.yml)",
            listener.local_addr().map_err(|e| CommandError::Invalid(e.to_string()))?,
            on_page.join(", ")
        );
        serve(listener, exposition);
    }
    let (worker_mailbox, worker_acks, worker_dry_runs) = (Arc::clone(&mailbox), Arc::clone(&acks), Arc::clone(&dry_runs));
    let (worker_writer, worker_board, worker_stop, rate) = (Arc::clone(&writer), Arc::clone(&board), Arc::clone(&stop), args.rate);
    let worker_log = Arc::clone(&log);
    let worker_stats_inbox = stats_inbox.clone();
    let worker_changes = Arc::clone(&change_log);
    let worker_checkpoints = Arc::clone(&checkpoints);
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let generator = Traffic::new(traffic, index as u64, peers as u64);
        let stats_inbox = worker_stats_inbox.clone();
        let users: Vec<u64> = generator.users().collect();
        let generated =
            GeneratorSource::for_worker(generator.clone(), index, peers, rate, &shared, &worker_stop).with_tap(generated_tap.clone());
        let posted = LogSource::for_worker(
            Arc::clone(&worker_log),
            index,
            peers,
            Arc::clone(&shared.schema),
            shared.config.future_tolerance_ms,
            Arc::clone(&worker_stop),
        )
        .with_tap(posted_tap.clone());
        let source = Rc::new(RefCell::new(Merged::new(generated, posted, POSTED_PARTITION_OFFSET)));
        let checkpointing = match worker_checkpoints.as_ref() {
            Some(checkpoints) => checkpoints.checkpointing(Rc::clone(&source), index, peers),
            None => Checkpointing::none(),
        };
        let mut requests = worker_checkpoints
            .as_ref()
            .as_ref()
            .map(DemoCheckpoints::requests)
            .filter(|_| index == 0);
        let probe = ProbeHandle::new();
        let ack_probe = probe.clone();
        let changes: Buffer<MembershipUpdate> = Rc::new(RefCell::new(Vec::new()));
        let sizes: Buffer<SizeUpdate> = Rc::new(RefCell::new(Vec::new()));
        let (change_buffer, size_buffer) = (Rc::clone(&changes), Rc::clone(&sizes));
        let built = worker.dataflow::<u64, _, _>(|scope| {
            build_with(scope, source, &shared, checkpointing).map(|(handles, outputs)| {
                outputs
                    .membership
                    .inner
                    .inspect(move |u| change_buffer.borrow_mut().push(u.clone()))
                    .probe_with(&probe);
                outputs.sizes.inner.inspect(move |u| size_buffer.borrow_mut().push(u.clone()));
                handles
            })
        });
        let mut handles = built?;
        if index == 0 {
            for def in &defs {
                handles.rules.update_at(def.clone(), start_tick, 1);
            }
        }
        for user in users {
            let name = format!("u{user}");
            handles.profiles.send((
                name.clone(),
                Some(shared.schema.profile.read_json_value(&generator.profile(user))?),
                start_tick,
            ));
            handles
                .stats
                .send((name, Some(shared.schema.stats.read_json_value(&generator.stats(user))?), start_tick));
        }
        let mut current_rules = defs.clone();
        let (mut last_published_at, mut last_shadows_at) = (None, None);
        let drain = |handles: Option<&mut segstream_dataflows::dataflow::Handles>| {
            if let (0, Some(handles)) = (index, handles) {
                // A published set and dry-run shadows never go in at the same time (the
                // engine refuses a batch of rule updates whole when it does not compile).
                let now = *handles.rules.time();
                let published = match last_shadows_at {
                    Some(t) if t >= now => None,
                    _ => worker_mailbox.apply(&mut current_rules, handles),
                };
                if let Some((version, time)) = published {
                    last_published_at = Some(time);
                    worker_acks.posted(version, time);
                    match version {
                        0 => tracing::info!("rules: applied the edited set ({} segments)", current_rules.len()),
                        v => tracing::info!("rules: rule-set v{v} from the console in force ({} segments)", current_rules.len()),
                    }
                }
                if let Some(requests) = requests.as_mut() {
                    requests.maybe_request(handles);
                }
                if let Some(inbox) = &stats_inbox {
                    let tick = shared.config.tick_of(wall_clock_ms());
                    demo_stats::apply(inbox, handles, &shared.schema, &generator, tick);
                }
                // Dry runs: shadow segments in and out of the rule collection.
                if last_published_at.is_none_or(|t| t < now) {
                    let (insert, retract) = worker_dry_runs.take_rule_updates(now);
                    if !insert.is_empty() || !retract.is_empty() {
                        last_shadows_at = Some(now);
                        insert.into_iter().for_each(|d| handles.rules.update(d, 1));
                        retract.into_iter().for_each(|d| handles.rules.update(d, -1));
                        handles.rules.flush();
                    }
                }
            }
            worker_acks.observe(index, |time| ack_probe.less_equal(&time));
            // A shadow's changes go to its dry run, not to the change stream, sizes or partners.
            changes.borrow_mut().retain(|((user, segment), tick, diff)| {
                let shadow = DryRuns::is_shadow(segment);
                if shadow {
                    worker_dry_runs.record(user, segment, *tick, *diff);
                }
                !shadow
            });
            sizes.borrow_mut().retain(|((segment, _), _, _)| !DryRuns::is_shadow(segment));
            shared
                .metrics
                .apply_sizes(sizes.borrow().iter().map(|((s, count), _, diff)| (s.as_str(), *count, *diff)));
            worker_dry_runs.observe(index, |time| ack_probe.less_equal(&time));
            let now = wall_clock_ms();
            if let Ok(mut board) = worker_board.lock() {
                for ((_, segment), _, diff) in changes.borrow().iter() {
                    board.record_change(segment, *diff > 0, now);
                }
                for ((segment, count), _, diff) in sizes.borrow_mut().drain(..) {
                    board.apply_size(&segment, count, diff);
                }
            }
            if let Ok(mut out) = worker_writer.lock() {
                let mut changes = changes.borrow_mut();
                for ((user, segment), tick, diff) in changes.iter() {
                    out.write(user, segment, *tick, *diff, now);
                }
                worker_changes.append(
                    changes
                        .drain(..)
                        .map(|((user, segment), tick, diff)| (user, segment, tick, diff > 0)),
                );
                // Errors are kept by the writer and reported by the progress loop.
                let _ = out.flush_if_due();
            }
            // Every change before the output's frontier is now with the change file's writer.
            shared
                .metrics
                .set_durable_frontier(ack_probe.with_frontier(|f| f.first().copied().unwrap_or(u64::MAX)));
        };
        drive(worker, handles, &probe, &worker_stop, &shared.metrics, &config, drain);
        Ok::<(), String>(())
    })
    .map_err(CommandError::Invalid)?;

    let started = Instant::now();
    let mut last = (0u64, 0u64, Instant::now());
    let mut watcher = RuleWatcher::new(&args.rules);
    loop {
        std::thread::sleep(Duration::from_millis(1_000));
        let (read, changes) = (
            ClassifierMetrics::get(&metrics.records_read),
            ClassifierMetrics::get(&metrics.changes),
        );
        let seconds = last.2.elapsed().as_secs_f64().max(1e-3);
        let totals = metrics.totals();
        let (watermark, users) = (totals.watermark_ms, totals.users);
        // No watermark yet (nothing read, no tick complete): no lag to show.
        let lag = if watermark == 0 {
            "-".to_string()
        } else {
            format!("{:.1}s", wall_clock_ms().saturating_sub(watermark) as f64 / 1000.0)
        };
        let top = board
            .lock()
            .map(|mut b| {
                b.sample();
                b.top(4)
            })
            .unwrap_or_default();
        let top: Vec<String> = top.iter().map(|(s, n)| format!("{s} {n}")).collect();
        tracing::info!(
            "t={:>4.0}s events/s={:>8.0} watermark lag={:>6} late={} dup dropped={} rejected={} changes/s={:>7.0} users={} evicted={} | {}",
            started.elapsed().as_secs_f64(),
            (read - last.0) as f64 / seconds,
            lag,
            ClassifierMetrics::get(&metrics.late),
            ClassifierMetrics::get(&metrics.duplicates),
            ClassifierMetrics::get(&metrics.rejected),
            (changes - last.1) as f64 / seconds,
            users,
            ClassifierMetrics::get(&metrics.evictions),
            top.join(" · ")
        );
        if let Some(activation) = &activation {
            tracing::info!("{}", partner_line(activation));
        }
        last = (read, changes, Instant::now());
        if let Ok(mut out) = writer.lock() {
            if let Err(e) = out.flush() {
                tracing::error!("writing {}: {e}", args.out.display());
                stop.store(true, Ordering::Relaxed);
            }
        }
        if args.watch_rules {
            watcher.check(&args.schema.schema, &args.rules, &mailbox);
        }
        if let Some(Err(e)) = line_file.as_ref().map(|f| f.flush()) {
            tracing::error!("writing --tap-lines: {e}");
            stop.store(true, Ordering::Relaxed);
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    for result in guards.join() {
        result.map_err(CommandError::Invalid)?.map_err(CommandError::Invalid)?;
    }
    let written = writer
        .lock()
        .map_err(|_| CommandError::Invalid("a worker panicked".into()))?
        .flush()
        .map_err(CommandError::Invalid)?;
    println!("done: {}; {written} changes written to {}", summary(&metrics), args.out.display());
    if let Some(checkpoints) = checkpoints.as_ref() {
        println!(
            "checkpoints of the classifier's state: {} (manifest.json in each complete one)",
            checkpoints.location().display()
        );
    }
    if let Some(inbox) = &stats_inbox {
        println!(
            "stats: {} users' stats from the lake upserted into the classifier",
            inbox.upserted()
        );
    }
    if let Some(lake) = lake {
        let raw = lake.raw().to_string();
        match lake.finish() {
            Ok(s) => {
                println!(
                    "lake: {} records committed to {raw} (table version {})",
                    s.records,
                    s.version.map_or("-".into(), |v| v.to_string())
                );
                if let Some(report) = s.curated {
                    println!("lake: {}", super::lake_compact::describe(&report));
                }
            }
            Err(_) => println!("lake: stopped early (its error is in the log)"),
        }
    }
    if let Some(activation) = activation {
        for s in activation.stop(ACTIVATION_DRAIN) {
            println!(
                "partner {}: {} delivered, {} superseded, {} dead-lettered, {} still pending; delivery p50 {} ms, p99 {} ms{}",
                s.partner,
                s.delivered,
                s.superseded,
                s.dead_lettered,
                s.pending,
                s.latency_p50_ms,
                s.latency_p99_ms,
                if s.last_error.is_empty() {
                    String::new()
                } else {
                    format!("; last error: {}", s.last_error)
                }
            );
        }
        if change_log.dropped() > 0 {
            println!(
                "activation: {} changes dropped from the full in-process change log",
                change_log.dropped()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
