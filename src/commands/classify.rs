//! `segstream classify`: the classifier on Kafka and Redis, one process of a cluster.
//!
//! Contract: every process of a cluster runs this command with the same configuration
//! and `--processes N`, its own `--process I`, and the same hostfile; each builds the
//! same dataflow with `--workers W` threads, and the event partitions are spread over
//! all `N × W` workers (a process that owns none still takes part). On start it reads
//! the recorded durable frontier `F` and the newest complete checkpoint
//! ([`super::classify_checkpoints`]): each worker restores the key groups it owns from
//! it and each partition resumes at its resume point there. Without one, it replays
//! each partition from the offset at `F − rewind` (rewind = the larger of the dedup
//! horizon and the longest window of the rules in force, plus the out-of-order bound
//! and future tolerance) or its committed offset if earlier, and rebuilds state. Either
//! way it suppresses output already emitted (see [`segstream_kafka::changes`]). Every
//! `checkpoints.interval` of event time it checkpoints. Profiles, stats and rules are read from their topics
//! before the first event. Once a published rule set is applied and durable on every
//! worker, worker 0 acknowledges its version in Redis for the console
//! ([`super::rules_acks`]), and every worker reports the sizes of its segments there
//! ([`super::size_reports`]) and the users entering and leaving them per minute
//! ([`super::move_reports`]); it answers the console's user lookups and dry runs
//! through Redis ([`super::user_lookups`], [`super::dry_runs`]). It prints a progress line each second and runs until
//! killed, or with `--until T` stops once every change before `T` is durable. Any stop,
//! including `kill -9`, is safe: a restart loses nothing and emits nothing twice.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::dataflow::{build_with, Checkpointing, Handles, Shared};
use segstream_dataflows::operators::durable_sink::durable_sink;
use segstream_dataflows::user_lookup::UserLookups;
use segstream_rules::{load_rule_files, Limits, Schema, UdfRegistry};
use segstream_time::parse_timestamp;
use timely::dataflow::operators::vec::Filter;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

use super::classify_checkpoints::{restore_for, restored, save_closure, this_run, Committer, PartWriter, Requests};
use super::classify_lease::{keep_slot, owner_name, take_slot, Slot};
use super::dry_runs::{is_shadow, spawn_responder as spawn_dry_runs, DryRunHost, Shadows};
use super::move_reports::MoveReporter;
use super::rules_acks::RulesAcker;
use super::rules_source::load_schema;
use super::size_reports::SizeReporter;
use super::user_lookups::spawn_responder;
use crate::cli::ClassifyArgs;
use crate::error::CommandError;
use segstream_config::DeploymentConfig;
use segstream_dataflows::live::{summary, worker_watermark};
use segstream_kafka::changes::{ChangeSink, Suppression};
use segstream_kafka::dead_letter::DeadLetters;
use segstream_kafka::event_source::{KafkaEventSource, SourceSetup};
use segstream_kafka::progress::{read_frontier, read_partition, ProgressWriter};
use segstream_kafka::side_inputs::SideInputs;
use segstream_model::change::ChangeKey;
use segstream_redis::profile_store::write_changes;
use segstream_redis::Retrying;
use segstream_rules::snapshot::RulesSnapshot;
use segstream_telemetry::exposition::Exposition;
use segstream_telemetry::metrics_http::serve;
use segstream_time::wall_clock_ms;

/// The timely configuration for the process flags.
fn timely_config(args: &ClassifyArgs) -> Result<timely::Config, CommandError> {
    let workers = args.workers.max(1);
    if args.processes <= 1 {
        return Ok(timely::Config::process(workers));
    }
    if args.process >= args.processes {
        return Err(CommandError::Invalid(format!(
            "--process {} must be below --processes {}",
            args.process, args.processes
        )));
    }
    let path = args
        .hostfile
        .as_ref()
        .ok_or_else(|| CommandError::Invalid("--hostfile is needed with --processes > 1".into()))?;
    let text = segstream_rules::files::read_text(path)?.text;
    let addresses: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(args.processes)
        .map(String::from)
        .collect();
    if addresses.len() < args.processes {
        return Err(CommandError::Invalid(format!(
            "{} lists {} hosts; --processes {} needs one per process",
            path.display(),
            addresses.len(),
            args.processes
        )));
    }
    Ok(timely::Config {
        communication: timely::CommunicationConfig::Cluster {
            threads: workers,
            process: args.process,
            addresses,
            report: false,
            zerocopy: false,
        },
        worker: timely::WorkerConfig::default(),
    })
}

/// The longest feature window of the rules last published (0 if none).
fn longest_window(deployment: &DeploymentConfig, schema: &Schema) -> Result<u64, CommandError> {
    let mut latest: Option<RulesSnapshot> = None;
    read_partition(deployment, &deployment.topics.rules, 0, |message| {
        if let Some(snapshot) = rdkafka::Message::payload(message).and_then(|p| serde_json::from_slice(p).ok()) {
            latest = Some(snapshot);
        }
    })
    .map_err(CommandError::Invalid)?;
    let Some(snapshot) = latest else { return Ok(0) };
    Ok(load_rule_files(&snapshot.sources(), schema, &UdfRegistry::new(), Limits::default())
        .ok()
        .and_then(|(set, _)| set.features().iter().filter_map(|f| f.window_ms).max())
        .map_or(0, |w| w.max(0) as u64))
}

fn parse_until(text: &str) -> Result<u64, CommandError> {
    let ms = match text.parse::<u64>() {
        Ok(ms) => ms,
        Err(_) => parse_timestamp(text)
            .map_err(|e| CommandError::Invalid(format!("--until: {e}")))?
            .max(0) as u64,
    };
    Ok(ms)
}

/// Worker 0: puts dry-run shadows in and out of the rule input, never at the time a
/// published set went in at (the engine refuses a batch of rule updates whole when it
/// does not compile), and moves the rule input past them so that no published set
/// joins them later.
fn insert_shadows(shadows: &Shadows, side: &SideInputs, handles: &mut Handles, tick_ms: u64) {
    let now = *handles.rules.time();
    if side.rules_applied().is_some_and(|(_, at)| at >= now) {
        return;
    }
    let (insert, retract) = shadows.take_rule_updates(now);
    if insert.is_empty() && retract.is_empty() {
        return;
    }
    insert.into_iter().for_each(|d| handles.rules.update(d, 1));
    retract.into_iter().for_each(|d| handles.rules.update(d, -1));
    handles.rules.advance_to(now + tick_ms.max(1));
    handles.rules.flush();
}

/// An update of the `sizes` collection.
type SizeUpdate = ((String, isize), u64, isize);

/// Runs the classifier process.
pub fn run(args: &ClassifyArgs) -> Result<ExitCode, CommandError> {
    let started = Instant::now();
    let deployment = Arc::new(DeploymentConfig::load(&args.config.config)?);
    let config = deployment.classifier_config()?;
    let schema = Arc::new(load_schema(&deployment.schema.path)?);
    let until = args.until.as_deref().map(parse_until).transpose()?;
    let timely_config = timely_config(args)?;
    let interval_ms = deployment.checkpoint_interval_ms()?;
    let location = deployment.checkpoint_location();
    let total_workers = args.processes.max(1) * args.workers.max(1);
    // The slot first: a standby reads the frontier and the rest once it takes over.
    let slot = Slot {
        group: deployment.kafka.group.clone(),
        process: args.process,
        owner: owner_name(args.process, args.standby),
        redis_url: deployment.redis.url.clone(),
    };
    let local_workers = args.process * args.workers.max(1)..(args.process + 1) * args.workers.max(1);
    let followed = (interval_ms > 0).then_some(location.as_str());
    let warm = Arc::new(take_slot(&slot, followed, (local_workers, total_workers)).map_err(CommandError::Invalid)?);
    keep_slot(slot).map_err(CommandError::Invalid)?;
    let durable_start = read_frontier(&deployment).map_err(CommandError::Invalid)?;
    let checkpoint = match (interval_ms, &warm.checkpoint) {
        (0, _) => None,
        (_, Some(followed)) => Some(followed.clone()),
        (_, None) => restored(&location).map_err(CommandError::Invalid)?,
    };
    let rewind =
        config.dedup_horizon_ms.max(longest_window(&deployment, &schema)?) + config.max_out_of_order_ms + config.future_tolerance_ms;
    let resume_from_ms = if durable_start > 0 && checkpoint.is_none() {
        durable_start.saturating_sub(rewind).max(1)
    } else {
        0
    };
    if let Some(restoring) = &checkpoint {
        tracing::info!(
            "segstream classify: restoring the checkpoint as of {} ({} workers' parts, {} with the deltas, {} bytes) from {location}",
            restoring.manifest.as_of,
            restoring.manifest.workers,
            restoring.chains.iter().map(Vec::len).sum::<usize>(),
            restoring.chains.iter().flatten().map(|s| s.len()).sum::<usize>()
        );
    }
    let restored_at = checkpoint.as_ref().map_or(0, |c| c.manifest.as_of);
    let checkpoint = Arc::new(checkpoint);
    let parts = match interval_ms {
        0 => None,
        _ => Some(PartWriter::start(location.clone()).map_err(CommandError::Invalid)?),
    };
    let part_run = this_run();
    let suppression = Arc::new(Suppression::load(&deployment, durable_start).map_err(CommandError::Invalid)?);
    let producer =
        Arc::new(segstream_kafka::threaded_producer(&deployment).map_err(|e| CommandError::Invalid(format!("kafka producer: {e}")))?);
    let dead_letters = DeadLetters::connect(&deployment, &deployment.topics.dead_letter)
        .map_err(|e| CommandError::Invalid(format!("kafka producer: {e}")))?;
    let main_dead_letters = dead_letters.clone();
    let metrics = Arc::new(ClassifierMetrics::default());
    if let Some(addr) = args.metrics_addr {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| CommandError::Invalid(format!("--metrics-addr {addr}: {e}")))?;
        serve(listener, Exposition::of(Arc::clone(&metrics)));
    }
    tracing::info!(
        "segstream classify: process {}/{} × {} workers; durable frontier at start {}; {} changes to suppress",
        args.process,
        args.processes,
        args.workers,
        durable_start,
        suppression.already.lock().map_or(0, |s| s.len())
    );
    let stopped = Arc::new(AtomicUsize::new(0));
    metrics.durable_frontier_ms.store(durable_start, Ordering::Relaxed);
    // The checkpoint restored is the newest complete one until the next is committed.
    metrics.checkpoint_committed_ms.store(restored_at, Ordering::Relaxed);
    let (worker_stopped, worker_metrics, worker_producer) = (Arc::clone(&stopped), Arc::clone(&metrics), Arc::clone(&producer));
    let lookups = Arc::new(UserLookups::expecting(args.workers.max(1)));
    spawn_responder(&deployment.redis.url, &deployment.kafka.group, args.process, Arc::clone(&lookups)).map_err(CommandError::Invalid)?;
    let shadows = Arc::new(Shadows::default());
    let host = DryRunHost {
        process: args.process,
        workers: args.workers.max(1) as u64,
        shadows: Arc::clone(&shadows),
        metrics: Arc::clone(&metrics),
    };
    spawn_dry_runs(&deployment.redis.url, &deployment.kafka.group, host).map_err(CommandError::Invalid)?;
    let committer = match (interval_ms, args.process) {
        (0, _) | (_, 1..) => None,
        _ => Some(
            Committer::start(location.clone(), total_workers, deployment.checkpoints.keep, Arc::clone(&metrics))
                .map_err(CommandError::Invalid)?,
        ),
    };
    let failed = Arc::new(AtomicBool::new(false));
    let worker_failed = Arc::clone(&failed);
    let first_worker = args.process * args.workers.max(1);
    let guards = timely::execute(timely_config, move |worker| {
        // A worker that cannot start (the broker not answering its metadata request,
        // Redis refusing…) must stop the process, not leave it printing zeros forever
        // while its peers wait for it: the error is printed and the process exits, so
        // that its supervisor restarts the cluster.
        let index = worker.index();
        let outcome = (|| -> Result<(), String> {
            let (index, peers) = (worker.index(), worker.peers());
            let durable = ProbeHandle::new();
            let shared = Shared {
                schema: Arc::clone(&schema),
                udfs: Arc::new(UdfRegistry::new()),
                config,
                metrics: Arc::clone(&worker_metrics),
                clock: Arc::new(wall_clock_ms),
                source_budget: 4_096,
                lookups: Arc::clone(&lookups),
            };
            let setup = SourceSetup {
                worker: index,
                workers: peers,
                schema: Arc::clone(&schema),
                config,
                dead_letters: dead_letters.clone(),
                durable: durable.clone(),
                resume_from_ms,
                checkpoint: checkpoint.as_ref().as_ref().map(|c| c.manifest.points.clone()),
            };
            let source = Rc::new(RefCell::new(KafkaEventSource::new(&deployment, setup)?));
            let decoding = Instant::now();
            // Decoded ahead of time when this process followed the checkpoints as a standby.
            let restore = match (warm.take(index, first_worker), checkpoint.as_ref()) {
                (Some(ready), _) => Some(ready),
                (None, Some(c)) => Some(restore_for(c, index, peers)?),
                (None, None) => None,
            };
            let decoded = decoding.elapsed();
            let side_start = checkpoint.as_ref().as_ref().map(|c| &c.manifest.side_points);
            let side = SideInputs::new(&deployment, (index, peers), Arc::clone(&schema), dead_letters.clone(), (side_start, parts.is_some()))?;
            let side = Rc::new(RefCell::new(side));
            let save = match &parts {
                Some(parts) => {
                    let side = Rc::clone(&side);
                    let side_points = Box::new(move |as_of| side.borrow_mut().resume_points(as_of));
                    save_closure((Rc::clone(&source), side_points), (index, peers, part_run), parts.clone())
                }
                None => Box::new(|_| {}),
            };
            let checkpointing = Checkpointing { restore, save };
            let mut requests = Requests::new(interval_ms, restored_at, deployment.checkpoints.full_every);
            let committer = committer.clone();
            let mut store = Retrying::new(&deployment.redis.url)?;
            let batch = deployment.redis.batch;
            let run = format!("{index}-{}", wall_clock_ms());
            let mut moves = MoveReporter::new(&deployment.redis.url, &deployment.kafka.group, run)?;
            let (refused, store_metrics) = (store.permanent_errors(), Arc::clone(&worker_metrics));
            let write_store = move |changes: &[ChangeKey]| {
                let before = refused.load(Ordering::Relaxed);
                write_changes(&mut store, changes, batch);
                ClassifierMetrics::add(&store_metrics.redis_refused, refused.load(Ordering::Relaxed) - before);
                moves.record(changes, wall_clock_ms());
            };
            let sink = ChangeSink::start(&deployment, index, Arc::clone(&suppression), write_store)?;
            let size_updates: Rc<RefCell<Vec<SizeUpdate>>> = Rc::new(RefCell::new(Vec::new()));
            let size_buffer = Rc::clone(&size_updates);
            let recorder = Arc::clone(&shadows);
            let built = worker.dataflow::<u64, _, _>(|scope| {
                build_with(scope, source, &shared, checkpointing).map(|(handles, outputs)| {
                    // A dry run's shadows go to their dry run, not to the topic or the store.
                    let membership = outputs
                        .membership
                        .inner
                        .inspect(move |((user, segment), tick, diff)| {
                            if is_shadow(segment) {
                                recorder.record(user, segment, *tick, *diff);
                            }
                        })
                        .filter(|((_, segment), _, _)| !is_shadow(segment));
                    durable_sink(membership, sink).probe_with(&durable);
                    outputs.sizes.inner.inspect(move |u| size_buffer.borrow_mut().push(u.clone()));
                    handles
                })
            });
            let mut sizes = SizeReporter::new(&deployment.redis.url, &deployment.kafka.group)?;
            let mut handles = built?;
            let (loaded, reading) = (decoding.elapsed() - decoded, Instant::now());
            let side_records = side.borrow_mut().bootstrap(&mut handles)?;
            tracing::info!(
                "segstream classify: worker {index} ready {:.1} s after start (checkpoint decoded in {:.1} s, loaded and the dataflow built in {:.1} s; side tables read to their end in {:.1} s, {side_records} side records)",
                started.elapsed().as_secs_f64(),
                decoded.as_secs_f64(),
                loaded.as_secs_f64(),
                reading.elapsed().as_secs_f64()
            );
            let mut progress = (index == 0).then(|| ProgressWriter::new(Arc::clone(&worker_producer), &deployment, durable_start));
            let mut acker = match index {
                0 => Some(RulesAcker::new(&deployment.redis.url, &deployment.kafka.group, peers as u64)?),
                _ => None,
            };
            loop {
                handles.advance_to(config.tick_of(worker_watermark(&worker_metrics, index)));
                worker.step_or_park(Some(Duration::from_millis(1)));
                side.borrow_mut().poll(&mut handles, 1_000);
                if index == 0 {
                    insert_shadows(&shadows, &side.borrow(), &mut handles, config.tick_ms);
                    if let Some(kind) = requests.due(*handles.checkpoints.time()) {
                        let at = handles.request_checkpoint(kind);
                        tracing::debug!(as_of = at, "checkpoints: requested");
                        if let Some(committer) = &committer {
                            let _ = committer.send(at);
                        }
                    }
                }
                let frontier = durable.with_frontier(|f| f.iter().next().copied().unwrap_or(u64::MAX));
                // Release: a dry run that sees this frontier sees the shadow changes before it.
                worker_metrics.set_durable_frontier(frontier);
                if let Some(progress) = progress.as_mut() {
                    progress.maybe_write(frontier, wall_clock_ms());
                }
                if let Some(acker) = acker.as_mut() {
                    acker.observe(side.borrow().rules_applied(), frontier);
                }
                size_updates.borrow_mut().retain(|((segment, _), _, _)| !is_shadow(segment));
                worker_metrics.apply_sizes(
                    size_updates
                        .borrow()
                        .iter()
                        .map(|((s, count), _, diff)| (s.as_str(), *count, *diff)),
                );
                for ((segment, count), _, diff) in size_updates.borrow_mut().drain(..) {
                    sizes.apply(&segment, count, diff);
                }
                sizes.maybe_report();
                if until.is_some_and(|u| frontier > u) {
                    break;
                }
            }
            if let Some(progress) = progress.as_mut() {
                progress.force_write(
                    durable.with_frontier(|f| f.iter().next().copied().unwrap_or(u64::MAX)),
                    wall_clock_ms(),
                );
            }
            // A stop is like a crash after the durable frontier: drop the dataflow rather
            // than wait for it to complete (its source never does).
            for dataflow in worker.installed_dataflows() {
                worker.drop_dataflow(dataflow);
            }
            Ok(())
        })();
        if let Err(e) = &outcome {
            tracing::error!(worker = index, error = %e, "classify: worker {index} failed");
            worker_failed.store(true, Ordering::Release);
        }
        worker_stopped.fetch_add(1, Ordering::Relaxed);
        outcome
    })
    .map_err(CommandError::Invalid)?;

    let mut last = (0u64, Instant::now());
    while stopped.load(Ordering::Relaxed) < args.workers.max(1) {
        if failed.load(Ordering::Acquire) {
            // The other workers would wait for the failed one forever; joining them
            // would too. The process stops; a crash is safe (see the module contract).
            std::mem::forget(guards);
            return Err(CommandError::Invalid(
                "a classifier worker failed to start or run (see above); stopping this process".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
        if last.1.elapsed() < Duration::from_secs(1) {
            continue;
        }
        metrics.dead_letters.store(main_dead_letters.sent(), Ordering::Relaxed);
        let failed = main_dead_letters.counts().failed.load(Ordering::Relaxed);
        metrics.dead_letters_failed.store(failed, Ordering::Relaxed);
        let read = ClassifierMetrics::get(&metrics.records_read);
        let totals = metrics.totals();
        let (watermark, users) = (totals.watermark_ms, totals.users);
        let durable = ClassifierMetrics::get(&metrics.durable_frontier_ms);
        tracing::info!(
            "events/s={:>8.0} watermark lag={:>6.1}s durable lag={:>6.1}s users={} evicted={} changes={} rejected={} dead letters={}",
            (read - last.0) as f64 / last.1.elapsed().as_secs_f64(),
            wall_clock_ms().saturating_sub(watermark) as f64 / 1000.0,
            wall_clock_ms().saturating_sub(durable.min(wall_clock_ms())) as f64 / 1000.0,
            users,
            ClassifierMetrics::get(&metrics.evictions),
            ClassifierMetrics::get(&metrics.changes),
            ClassifierMetrics::get(&metrics.rejected),
            ClassifierMetrics::get(&metrics.dead_letters),
        );
        last = (read, Instant::now());
    }
    for result in guards.join() {
        result.map_err(CommandError::Invalid)?.map_err(CommandError::Invalid)?;
    }
    rdkafka::producer::Producer::flush(&*producer, Duration::from_secs(10))
        .map_err(|e| CommandError::Invalid(format!("flushing progress: {e}")))?;
    main_dead_letters
        .flush(Duration::from_secs(10))
        .map_err(|e| CommandError::Invalid(format!("flushing dead letters: {e}")))?;
    tracing::info!(
        "done: {}; durable frontier {}",
        summary(&metrics),
        ClassifierMetrics::get(&metrics.durable_frontier_ms)
    );
    Ok(ExitCode::SUCCESS)
}
