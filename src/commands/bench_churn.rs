//! `segstream bench --churn`: the engine's memory while its population churns.
//!
//! Contract: generates the traffic of `--churn-users` users who arrive one after the
//! other (each in one session of 2–4 events; heavy users ten times longer) over
//! `--churn-days` of event time, so that a bounded number is active at any time, and
//! feeds it to one engine on one thread the way the dataflow would: each event placed
//! by the late-event rule (one partition), a user's profile and stats arriving with
//! its first event, complete ticks and window-expiry timers processed in order. Every
//! `1/--churn-samples` of the run it prints a row of the curve — records read, event
//! day, users held, dormant records, evictions, event ids remembered, the bytes this
//! thread holds on the heap (`heap.rs`; the engine's state and the pending ticks), resident
//! memory — and at the
//! end the peak. With eviction (`--user-ttl`) the users held, and with them the
//! memory, level off once the first arrivals' windows have closed; with `--user-ttl
//! 0s` they grow with every user ever seen.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use segstream_dataflows::classifier::placement::{place, Placement};
use segstream_dataflows::classifier::side_rows::NoSideRows;
use segstream_dataflows::classifier::{Engine, UserInput};
use segstream_model::event::decode::decode_event_line;
use segstream_rules::{PackedRow, UdfRegistry};
use segstream_time::MS_PER_DAY;
use segstream_traffic::{Traffic, TrafficConfig};

use super::bench::{memory, per_second, row};
use super::rules_source::load_schema_and_rules;
use crate::cli::BenchArgs;
use crate::error::CommandError;

/// Records per user the churn traffic averages (sessions of 2–4 events, 2 % heavy
/// users with ten times more, 2 % duplicates): how many records cover every user once.
const RECORDS_PER_USER: f64 = 3.6;

/// Runs the churn benchmark.
pub fn run(args: &BenchArgs) -> Result<ExitCode, CommandError> {
    let (schema, defs) = load_schema_and_rules(&args.schema.schema, &args.rules)?;
    let schema = Arc::new(schema);
    let config = super::classifier_flags::classifier_config(&args.classifier)?;
    let users = args.churn_users.max(1);
    let records = (users as f64 * RECORDS_PER_USER) as u64;
    let span_ms = args.churn_days.max(1) * MS_PER_DAY as u64;
    let start = 1_764_151_200_000u64; // 2025-11-26T10:00:00Z
    let mut traffic = Traffic::new(
        TrafficConfig {
            users,
            seed: args.seed,
            daily_active: 1.0,
            session_events: (2, 4),
            sequential_users: true,
            ..TrafficConfig::default()
        },
        0,
        1,
    );
    println!(
        "churn: {users} users over {} days of event time ({records} records), {} segments, user TTL {} ms",
        args.churn_days,
        defs.len(),
        config.user_ttl_ms
    );
    let mut engine = Engine::new(Arc::clone(&schema), Arc::new(UdfRegistry::new()), config).map_err(CommandError::Invalid)?;
    let mut changes = Vec::new();
    engine.process_tick(
        config.tick_of(start),
        defs.iter().map(|d| (d.clone(), 1)).collect(),
        Vec::new(),
        &mut NoSideRows,
        &mut changes,
    );
    let mut seen = vec![false; users as usize];
    let mut pending: BTreeMap<u64, Vec<(String, UserInput)>> = BTreeMap::new();
    let mut highest: Option<u64> = None;
    let mut emitted = 0u64;
    let samples = args.churn_samples.max(1);
    let (_, peak_before) = memory();
    println!("| records | event day | users held | dormant | evicted | event ids | heap MiB | RSS MiB | records/s |");
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let clock = Instant::now();
    for n in 0..records {
        let now = start + (n as u128 * span_ms as u128 / records as u128) as u64;
        let line = traffic.next_line(now);
        let Ok(event) = decode_event_line(&line, &schema, config.future_tolerance_ms) else {
            continue;
        };
        let mark = highest.map(|h| h.saturating_sub(config.max_out_of_order_ms));
        highest = Some(highest.map_or(event.time, |h| h.max(event.time)));
        let Placement::Applies { tick, .. } = place(event.time, mark, 0, 0, &config) else {
            continue;
        };
        let inputs = pending.entry(tick).or_default();
        let index = event.user.get(1..).and_then(|i| i.parse::<usize>().ok());
        if let Some(first) = index.filter(|&i| seen.get(i) == Some(&false)) {
            seen[first] = true;
            let (profile, stats) = (traffic.profile(first as u64), traffic.stats(first as u64));
            let (profile, stats) = (row(&schema.profile, &profile)?, row(&schema.stats, &stats)?);
            inputs.push((event.user.clone(), UserInput::Profile(PackedRow::from_owned_slots(profile), 1)));
            inputs.push((event.user.clone(), UserInput::Stats(PackedRow::from_owned_slots(stats), 1)));
        }
        inputs.push((event.user.clone(), UserInput::Event(event)));
        let complete = config.tick_of(mark.unwrap_or(0));
        loop {
            let next = [pending.keys().next().copied(), engine.next_timer()].into_iter().flatten().min();
            let Some(tick) = next.filter(|t| *t < complete) else { break };
            let inputs = pending.remove(&tick).unwrap_or_default();
            engine.process_tick(tick, Vec::new(), inputs, &mut NoSideRows, &mut changes);
            emitted += changes.len() as u64;
            changes.clear();
        }
        if (n + 1) % (records / samples).max(1) == 0 {
            println!(
                "| {} | {:.0} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} |",
                n + 1,
                (now - start) as f64 / MS_PER_DAY as f64,
                engine.user_count(),
                engine.dormant_count(),
                engine.counters.evictions,
                engine.dedup_len(),
                crate::heap::thread_live_bytes() as f64 / 1_048_576.0,
                memory().0 as f64 / 1_048_576.0,
                per_second(n + 1, clock.elapsed())
            );
        }
    }
    let (_, peak) = memory();
    println!(
        "churn done: {} distinct users, {emitted} changes, {} evicted, {} held at the end; peak RSS {:.0} MiB (before the run {:.0} MiB)",
        seen.iter().filter(|s| **s).count(),
        engine.counters.evictions,
        engine.user_count(),
        peak as f64 / 1_048_576.0,
        peak_before as f64 / 1_048_576.0
    );
    Ok(ExitCode::SUCCESS)
}
