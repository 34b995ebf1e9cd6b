//! `segstream bench`: how fast the classifier is, how much memory it holds, and how
//! long a change takes to come out.
//!
//! Contract: generates `--events` records of `--users` users (2 % duplicates, 5 %
//! late, skewed clocks, 0.1 % malformed) and measures, printing each figure:
//! 1. decoding (JSON → typed events), single thread;
//! 2. the engine alone (dedup, features, profile/stats join, rules, membership) on one
//!    thread, events fed in tick order, profiles and stats of every user loaded first;
//!    with the heap bytes its state holds (counted by the allocator, `heap.rs`) per user
//!    and per event id remembered, and the resident memory it added; then a
//!    checkpoint of that state (`bench_checkpoint.rs`: the snapshot's slices — the
//!    checkpoint pause —, its size, restoring it against replaying its events; and the
//!    engine's rate while a snapshot is in progress, over the last fifth of its ticks,
//!    slices excluded from the engine's time); then a
//!    rule edit over all of its users, worked through in slices as the classify
//!    operator does (its total time and its longest slice);
//! 3. the whole timely dataflow with `--workers` workers, to completion;
//! 4. event→change latency of the live pipeline at `--latency-rate` events/s for
//!    `--latency-seconds` (p50/p90/p99/p99.9/max, from the tick a change holds at to
//!    the wall-clock instant it left the classifier).
//!
//! With `--churn` it measures the engine's memory under a churning population
//! instead (`bench_churn.rs`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::bench_checkpoint::{checkpoint_cost, TicksDuringSnapshot};
use segstream_dataflows::bounded::{run_bounded, SideInputs};
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::side_rows::{NoSideRows, SideRows};
use segstream_dataflows::classifier::source::{SourceRecord, VecSource};
use segstream_dataflows::classifier::{ClassifierConfig, Engine, UserInput};
use segstream_dataflows::dataflow::{build, Shared};
use segstream_model::event::decode::decode_event_line;
use segstream_model::event::Row;
use segstream_rules::{FieldSet, PackedRow, Schema, SegmentDef, UdfRegistry};
use segstream_traffic::{Traffic, TrafficConfig};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

use super::rules_source::load_schema_and_rules;
use crate::cli::BenchArgs;
use crate::error::CommandError;
use segstream_dataflows::live::drive;
use segstream_embedded::generator_source::GeneratorSource;
use segstream_time::wall_clock_ms;

/// Resident and peak memory of this process in bytes (Linux), or zeros.
pub(super) fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub(super) fn row(fields: &FieldSet, json: &serde_json::Value) -> Result<Row, CommandError> {
    fields.read_json_value(json).map_err(CommandError::Invalid)
}

pub(super) fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> Result<ExitCode, CommandError> {
    if args.churn {
        return super::bench_churn::run(args);
    }
    let (schema, defs) = load_schema_and_rules(&args.schema.schema, &args.rules)?;
    let schema = Arc::new(schema);
    let config = super::classifier_flags::classifier_config(&args.classifier)?;
    let start = 1_764_151_200_000u64; // 2025-11-26T10:00:00Z
    let traffic = TrafficConfig {
        users: args.users,
        seed: args.seed,
        ..TrafficConfig::default()
    };
    println!(
        "bench: {} users, {} records, {} segments, {} workers",
        args.users,
        args.events,
        defs.len(),
        args.workers
    );

    let mut generator = Traffic::new(traffic, 0, 1);
    let clock = Instant::now();
    let lines: Vec<String> = (0..args.events)
        .map(|n| generator.next_line(start + n * 1000 / args.event_time_rate.max(1)))
        .collect();
    println!("generate: {:.0} records/s", per_second(args.events, clock.elapsed()));
    let clock = Instant::now();
    let records: Vec<SourceRecord> = lines
        .iter()
        .map(|line| match decode_event_line(line, &schema, config.future_tolerance_ms) {
            Ok(event) => SourceRecord::Event(event),
            Err(e) => SourceRecord::Rejected(e.reason),
        })
        .collect();
    println!(
        "decode (JSON -> typed event, 1 thread): {:.0} records/s",
        per_second(args.events, clock.elapsed())
    );
    drop(lines);
    let profiles: Vec<(String, Row, Row)> = (0..args.users)
        .map(|u| {
            Ok((
                format!("u{u}"),
                row(&schema.profile, &generator.profile(u))?,
                row(&schema.stats, &generator.stats(u))?,
            ))
        })
        .collect::<Result<_, CommandError>>()?;

    engine_alone(&schema, &defs, &config, &records, &profiles)?;
    dataflow(args, &schema, &defs, &config, &records, &profiles)?;
    drop(records);
    latency(args, &schema, &defs, config, traffic)?;
    Ok(ExitCode::SUCCESS)
}

fn engine_alone(
    schema: &Arc<Schema>,
    defs: &[SegmentDef],
    config: &ClassifierConfig,
    records: &[SourceRecord],
    profiles: &[(String, Row, Row)],
) -> Result<(), CommandError> {
    // The baseline is taken before the inputs are built: the engine moves much of them
    // (event ids, properties, rows) into its state and frees the rest, so what this
    // thread holds at the end beyond the baseline is the engine's state (`heap.rs`).
    let (rss_before, _) = memory();
    let heap_before = crate::heap::thread_live_bytes();
    let first_tick = records
        .iter()
        .find_map(|r| {
            if let SourceRecord::Event(e) = r {
                Some(config.tick_of(e.time))
            } else {
                None
            }
        })
        .unwrap_or(0);
    let base = first_tick.saturating_sub(config.tick_ms);
    let mut by_tick: BTreeMap<u64, Vec<(String, UserInput)>> = BTreeMap::new();
    let mut events = 0u64;
    for record in records {
        if let SourceRecord::Event(e) = record {
            events += 1;
            by_tick
                .entry(config.tick_of(e.time).max(base + config.tick_ms))
                .or_default()
                .push((e.user.clone(), UserInput::Event(e.clone())));
        }
    }
    let inputs: Vec<(String, UserInput)> = profiles
        .iter()
        .flat_map(|(user, p, s)| {
            [
                (user.clone(), UserInput::Profile(PackedRow::from_slots(p), 1)),
                (user.clone(), UserInput::Stats(PackedRow::from_slots(s), 1)),
            ]
        })
        .collect();
    let mut engine = Engine::new(Arc::clone(schema), Arc::new(UdfRegistry::new()), *config).map_err(CommandError::Invalid)?;
    let mut changes = Vec::new();
    let clock = Instant::now();
    engine.process_tick(
        base,
        defs.iter().map(|d| (d.clone(), 1)).collect(),
        inputs,
        &mut NoSideRows,
        &mut changes,
    );
    let loaded = clock.elapsed();
    println!(
        "engine: loaded {} users' profiles and stats and evaluated {} segments for each in {:.2} s",
        profiles.len(),
        defs.len(),
        loaded.as_secs_f64()
    );
    changes.clear();
    let mut emitted = 0u64;
    let mut elapsed = Duration::ZERO;
    let mut during_snapshot = TicksDuringSnapshot::new(by_tick.len());
    for (n, (tick, inputs)) in by_tick.into_iter().enumerate() {
        during_snapshot.before_tick(&mut engine, n, tick)?;
        let count = inputs.len();
        let clock = Instant::now();
        engine.process_tick(tick, Vec::new(), inputs, &mut NoSideRows, &mut changes);
        let took = clock.elapsed();
        during_snapshot.tick_done(count, took);
        elapsed += took;
        emitted += changes.len() as u64;
        changes.clear();
    }
    let snapshot_base = during_snapshot.finish(&mut engine)?;
    drop(changes);
    let (rss_after, _) = memory();
    let held = (crate::heap::thread_live_bytes() - heap_before).max(0) as f64;
    let users = engine.user_count() as u64;
    let ids = engine.dedup_len() as u64;
    println!(
        "engine alone (1 thread): {events} events in {:.2} s = {:.0} events/s; {emitted} changes; {} duplicates dropped",
        elapsed.as_secs_f64(),
        per_second(events, elapsed),
        engine.counters.duplicates
    );
    println!(
        "engine state: {:.0} MiB on the heap for {users} users and {ids} remembered event ids = {:.0} bytes per user, or {:.0} bytes per user with ids counted at 24 bytes; RSS grew {:.0} MiB",
        held / 1_048_576.0,
        held / users.max(1) as f64,
        (held - (ids * 24) as f64).max(0.0) / users.max(1) as f64,
        rss_after.saturating_sub(rss_before) as f64 / 1_048_576.0
    );
    let after_last = engine.last_tick().unwrap_or(base) + config.tick_ms;
    checkpoint_cost(&mut engine, (after_last, snapshot_base), schema, config, elapsed + loaded)?;
    let mut keys: Vec<String> = profiles.iter().map(|(user, _, _)| user.clone()).collect();
    keys.sort_unstable();
    rule_edit_stall(&mut engine, defs, after_last, &mut ProfileKeys(keys))
}

/// The users with a profile row, as the profile arrangement lists them to a rule edit,
/// a page at a time (every one of them is held by the benchmark's engine, so the edit
/// walks and skips them all, as in the dataflow; their rows are never asked for).
struct ProfileKeys(Vec<String>);

impl SideRows for ProfileKeys {
    fn rows_before(&mut self, _user: &str, _tick: u64) -> (Option<PackedRow>, Option<PackedRow>) {
        (None, None)
    }

    fn users_after(&mut self, _tick: u64, after: Option<&str>, limit: usize) -> Vec<String> {
        let from = after.map_or(0, |after| self.0.partition_point(|user| user.as_str() <= after));
        self.0[from..].iter().take(limit).cloned().collect()
    }
}

/// Users per slice of a rule edit, as the classify operator gives the engine.
const EDIT_SLICE_USERS: usize = 256;

/// A rule edit at `tick` over everything the engine holds — one segment removed, one
/// edited, one added whose new feature is backfilled from each user's history — worked
/// through in slices as the classify operator does: the longest slice is the longest
/// the worker goes without yielding; the total is what it stalled for before slicing.
fn rule_edit_stall(engine: &mut Engine, defs: &[SegmentDef], tick: u64, side: &mut dyn SideRows) -> Result<(), CommandError> {
    let (Some(removed), Some(edited)) = (defs.last(), defs.first()) else {
        return Ok(());
    };
    let mut changed = edited.clone();
    changed.when = format!("({}) || count(\"app_opened\", \"2h\") >= 50", edited.when);
    let mut added = edited.clone();
    added.id = "bench_edit_added".into();
    added.when = "count(\"app_opened\", \"2h\") >= 2".into();
    let updates = vec![(removed.clone(), -1), (edited.clone(), -1), (changed, 1), (added, 1)];
    let users = engine.user_count();
    // Each slice's changes are counted and dropped, as the operator sends them on: a
    // vector of all of them would time its own doublings as slices.
    let mut changes = Vec::new();
    let mut emitted = 0usize;
    let mut slice_us = Histogram::<u64>::new(3).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let clock = Instant::now();
    engine.start_tick(tick, updates, Vec::new());
    let mut longest = clock.elapsed();
    loop {
        let slice = Instant::now();
        let done = engine.continue_tick(EDIT_SLICE_USERS, side, &mut changes);
        let took = slice.elapsed();
        longest = longest.max(took);
        slice_us.saturating_record(took.as_micros() as u64);
        emitted += changes.len();
        changes.clear();
        if done {
            break;
        }
    }
    let total = clock.elapsed();
    if engine.counters.rule_errors > 0 {
        return Err(CommandError::Invalid(format!(
            "the benchmark's rule edit did not compile: {}",
            engine.counters.last_rule_error.clone().unwrap_or_default()
        )));
    }
    println!(
        "rule edit over {users} users (1 segment removed, 1 edited, 1 added with a backfilled feature): {:.0} ms in all, {emitted} changes; in {} slices of {EDIT_SLICE_USERS} users: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, the longest {:.1} ms (the start, which compiles the rules, included)",
        total.as_secs_f64() * 1_000.0,
        slice_us.len() + 1,
        slice_us.value_at_quantile(0.5) as f64 / 1_000.0,
        slice_us.value_at_quantile(0.99) as f64 / 1_000.0,
        slice_us.value_at_quantile(0.999) as f64 / 1_000.0,
        longest.as_secs_f64() * 1_000.0
    );
    Ok(())
}

fn dataflow(
    args: &crate::cli::BenchArgs,
    schema: &Arc<Schema>,
    defs: &[SegmentDef],
    config: &ClassifierConfig,
    records: &[SourceRecord],
    profiles: &[(String, Row, Row)],
) -> Result<(), CommandError> {
    let workers = args.workers.max(1);
    let mut partitions = vec![Vec::new(); workers];
    for (i, record) in records.iter().enumerate() {
        partitions[i % workers].push(record.clone());
    }
    let partitions = Arc::new(partitions);
    let metrics = Arc::new(ClassifierMetrics::default());
    let shared = Shared {
        schema: Arc::clone(schema),
        udfs: Arc::new(UdfRegistry::new()),
        config: *config,
        metrics: Arc::clone(&metrics),
        clock: Arc::new(|| 0),
        source_budget: 4_096,
        lookups: Default::default(),
    };
    let side = SideInputs {
        rules: vec![(0, defs.to_vec())],
        profiles: profiles.iter().map(|(u, p, _)| (0, u.clone(), Some(p.clone()))).collect(),
        stats: profiles.iter().map(|(u, _, s)| (0, u.clone(), Some(s.clone()))).collect(),
    };
    let clock = Instant::now();
    let changes = run_bounded(timely::Config::process(workers), shared, side, move |i, n| {
        VecSource::for_worker(&partitions, i, n)
    })
    .map_err(CommandError::Invalid)?;
    let elapsed = clock.elapsed();
    let events = ClassifierMetrics::get(&metrics.records_read);
    println!(
        "dataflow ({workers} workers, timely): {events} records + {} profiles and stats in {:.2} s = {:.0} records/s ({:.0} per worker); {} changes; {} late, {} duplicates dropped",
        profiles.len() * 2,
        elapsed.as_secs_f64(),
        per_second(events, elapsed),
        per_second(events, elapsed) / workers as f64,
        changes.len(),
        ClassifierMetrics::get(&metrics.late),
        ClassifierMetrics::get(&metrics.duplicates)
    );
    let (_, peak) = memory();
    println!("peak resident memory so far: {:.0} MiB", peak as f64 / 1_048_576.0);
    Ok(())
}

fn latency(
    args: &crate::cli::BenchArgs,
    schema: &Arc<Schema>,
    defs: &[SegmentDef],
    config: ClassifierConfig,
    traffic: TrafficConfig,
) -> Result<(), CommandError> {
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).map_err(|e| CommandError::Invalid(e.to_string()))?,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(ClassifierMetrics::default());
    let clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(wall_clock_ms);
    let shared = Shared {
        schema: Arc::clone(schema),
        udfs: Arc::new(UdfRegistry::new()),
        config,
        metrics: Arc::clone(&metrics),
        clock,
        source_budget: 4_096,
        lookups: Default::default(),
    };
    let start_tick = config.tick_of(wall_clock_ms());
    let warm_up = start_tick + 3_000;
    let (defs, rate, users, worker_stop, worker_histogram) = (
        defs.to_vec(),
        args.latency_rate,
        traffic.users.min(args.latency_users),
        Arc::clone(&stop),
        Arc::clone(&histogram),
    );
    let guards = timely::execute(timely::Config::process(args.workers.max(1)), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let generator = Traffic::new(TrafficConfig { users, ..traffic }, index as u64, peers as u64);
        let source = GeneratorSource::for_worker(generator, index, peers, rate, &shared, &worker_stop);
        let probe = ProbeHandle::new();
        let seen: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::new()));
        let buffer = Rc::clone(&seen);
        let mut handles = worker.dataflow::<u64, _, _>(|scope| {
            build(scope, source, &shared).map(|(handles, outputs)| {
                outputs
                    .membership
                    .inner
                    .inspect(move |(_, tick, _)| buffer.borrow_mut().push(*tick))
                    .probe_with(&probe);
                handles
            })
        })?;
        if index == 0 {
            for def in &defs {
                handles.rules.update_at(def.clone(), start_tick, 1);
            }
        }
        let record = |_: Option<&mut segstream_dataflows::dataflow::Handles>| {
            let now = wall_clock_ms();
            if let Ok(mut hist) = worker_histogram.lock() {
                for tick in seen.borrow_mut().drain(..).filter(|t| *t >= warm_up) {
                    hist.saturating_record(now.saturating_sub(tick).max(1));
                }
            }
        };
        drive(worker, handles, &probe, &worker_stop, &shared.metrics, &config, record);
        Ok::<(), String>(())
    })
    .map_err(CommandError::Invalid)?;
    std::thread::sleep(Duration::from_secs(args.latency_seconds));
    stop.store(true, Ordering::Relaxed);
    for result in guards.join() {
        result.map_err(CommandError::Invalid)?.map_err(CommandError::Invalid)?;
    }
    let hist = histogram.lock().map_err(|_| CommandError::Invalid("a worker panicked".into()))?;
    println!(
        "latency at {:.0} events/s ({} workers, {} users, after a 3 s warm-up): {} changes; change tick -> emitted: p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms (max_out_of_order is {} ms)",
        args.latency_rate,
        args.workers,
        users,
        hist.len(),
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.9),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max(),
        config.max_out_of_order_ms
    );
    Ok(())
}
