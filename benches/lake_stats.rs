//! The stats job's throughput (`segstream stats`): DataFusion over the curated table
//! into per-user daily tiles, then merging and comparing every candidate user's stats.
//!
//! Input: the game's generated event mix spread evenly over 30 days, compacted into a
//! curated table (local filesystem). Two benchmarks, on a multi-thread runtime as the
//! command runs:
//! - `first_run`: a new tile table built from the whole curated table and every user
//!   published (a new deployment, `--republish-all`), reported per curated event;
//! - `incremental`: the curated table gained 1% more events (today's, and late ones
//!   across the 30 days) since the tiles were built; the touched tiles are rebuilt and
//!   the changed users published, reported per new event.
//!
//! Run: `cargo bench --bench lake_stats` (2,000,000 events of 100,000 users). In test
//! mode (`cargo test --benches`, CI) the data is 20,000 events of 2,000 users, so the
//! benchmark cannot rot but costs little.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use segstream_lake::curated::{CuratedTable, Quiet};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::SourceRecord;
use segstream_lake::stats::{self, Baseline, SessionLimits, StatsReport};

#[path = "support/generated_records.rs"]
mod generated_records;
use generated_records::generated_records;

const PARTITIONS: i32 = 8;
const DAY_MS: u64 = 86_400_000;
const DAYS: u64 = 30;

/// Events and users: full size under `cargo bench`, small in test mode.
fn size() -> (usize, u64) {
    if std::env::args().any(|a| a == "--bench") {
        (2_000_000, 100_000)
    } else {
        (20_000, 2_000)
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("segstream-stats-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn location(dir: &Path) -> TableLocation {
    TableLocation::parse(&dir.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        }
    }
}

/// Commits `records` to `raw` after `offset` records per partition.
fn commit(runtime: &tokio::runtime::Runtime, raw: &mut RawTable, records: &[SourceRecord], after: i64) {
    let next: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| (p, after + records.len() as i64 / PARTITIONS as i64 + 1))
        .collect();
    let shifted: Vec<SourceRecord> = records
        .iter()
        .cloned()
        .map(|mut r| {
            r.offset += after;
            r
        })
        .collect();
    runtime
        .block_on(raw.commit(&shifted, &next, segstream_time::wall_clock_ms() as i64))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn run(runtime: &tokio::runtime::Runtime, curated: &CuratedTable, tiles: &TableLocation, as_of: &str, baseline: Baseline) -> StatsReport {
    runtime
        .block_on(stats::run(curated, tiles, as_of, baseline, &SessionLimits::default(), &mut |_| {
            Ok(())
        }))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn lake_stats(c: &mut Criterion) {
    let (events, users) = size();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let now = segstream_time::wall_clock_ms();
    let first = now - DAYS * DAY_MS;
    let (raw_dir, curated_dir) = (scratch("raw"), scratch("curated"));
    let mut raw = runtime
        .block_on(RawTable::open_or_create(&location(&raw_dir), "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    let records = generated_records(1, events, users, first, (DAYS * DAY_MS) as f64 / events as f64, PARTITIONS);
    commit(&runtime, &mut raw, &records, 0);
    let mut curated = runtime
        .block_on(CuratedTable::open_or_create(&location(&curated_dir), "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(curated.compact(&raw, &Quiet)).unwrap_or_else(|e| panic!("{e}"));
    let as_of = segstream_lake::curated::rows::event_date(now as i64);

    let mut group = c.benchmark_group("lake_stats");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(events as u64));
    let mut iteration = 0;
    group.bench_function("first_run", |b| {
        b.iter_batched(
            || {
                iteration += 1;
                scratch(&format!("tiles-{iteration}"))
            },
            |dir| {
                let report = run(&runtime, &curated, &location(&dir), &as_of, Baseline::Nothing);
                assert!(report.published > 0 && report.published <= users, "{report:?}");
                let _ = std::fs::remove_dir_all(dir);
            },
            BatchSize::PerIteration,
        )
    });

    // Tiles covering the table as it is; then 1% more events, half today's, half late.
    let template = scratch("tiles-template");
    run(&runtime, &curated, &location(&template), &as_of, Baseline::Nothing);
    let more = events / 100;
    let mut added = generated_records(2, more / 2, users, now - DAY_MS / 2, 1.0, PARTITIONS);
    added.extend(generated_records(
        3,
        more - more / 2,
        users,
        first + DAY_MS,
        ((DAYS - 2) * DAY_MS) as f64 / (more - more / 2) as f64,
        PARTITIONS,
    ));
    for (i, record) in added.iter_mut().enumerate() {
        record.partition = i as i32 % PARTITIONS;
        record.offset = i as i64 / PARTITIONS as i64;
    }
    commit(&runtime, &mut raw, &added, events as i64);
    runtime.block_on(curated.compact(&raw, &Quiet)).unwrap_or_else(|e| panic!("{e}"));
    group.throughput(Throughput::Elements(more as u64));
    group.bench_function("incremental", |b| {
        b.iter_batched(
            || {
                iteration += 1;
                let dir = scratch(&format!("tiles-{iteration}"));
                copy_dir(&template, &dir);
                dir
            },
            |dir| {
                let report = run(&runtime, &curated, &location(&dir), &as_of, Baseline::LastPublished);
                assert!(report.tiles_rebuilt > 0 && report.published > 0, "{report:?}");
                let _ = std::fs::remove_dir_all(dir);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    for dir in [raw_dir, curated_dir, template] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

criterion_group!(benches, lake_stats);
criterion_main!(benches);
