//! The lake writer's throughput into the raw table (Delta Lake on the local
//! filesystem): building the Arrow batch from topic records (`to_batch`) and the whole
//! commit (batch, Parquet with zstd, statistics and Bloom filters, files and log entry),
//! over 100,000 records of the game's generated event mix per iteration. Reports
//! records per second of one thread; the writer's target is 500,000 per core. Then
//! compaction: a raw table holding those records twice (two commits, so half the rows
//! are retries) brought into an empty curated table in one run, reported per raw row.
//!
//! Run: `cargo bench --bench lake_write` (quick check: `cargo bench --bench lake_write
//! -- --test`).

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use segstream_lake::curated::{CuratedTable, Quiet};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::{to_batch, SourceRecord};

#[path = "support/generated_records.rs"]
mod generated_records;
use generated_records::generated_records;
use segstream_traffic::TrafficConfig;

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 8;

fn records() -> Vec<SourceRecord> {
    generated_records(
        TrafficConfig::default().seed,
        RECORDS,
        100_000,
        segstream_time::wall_clock_ms(),
        1.0,
        PARTITIONS,
    )
}

fn lake_write(c: &mut Criterion) {
    let records = records();
    let bytes: usize = records.iter().map(|r| r.payload.as_ref().map_or(0, Vec::len)).sum();
    let now = segstream_time::wall_clock_ms() as i64;
    let mut group = c.benchmark_group("lake_write");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("to_batch", |b| b.iter(|| to_batch(&records, now)));
    let dir = std::env::temp_dir().join(format!("segstream-lake-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = segstream_lake::runtime().unwrap_or_else(|e| panic!("{e}"));
    let location = TableLocation::parse(&dir.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    let mut table = runtime
        .block_on(RawTable::open_or_create(&location, "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut next = 0i64;
    group.bench_function("commit", |b| {
        b.iter(|| {
            next += RECORDS as i64;
            let offsets: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, next)).collect();
            runtime
                .block_on(table.commit(&records, &offsets, now))
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.finish();
    lake_compact(c, &runtime, &mut table, &records, now);
    println!(
        "lake_write: {RECORDS} records of {} bytes on average per iteration",
        bytes / RECORDS
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Compaction of a raw table holding `records` twice into a new curated table.
fn lake_compact(c: &mut Criterion, runtime: &tokio::runtime::Runtime, raw: &mut RawTable, records: &[SourceRecord], now: i64) {
    let dir = std::env::temp_dir().join(format!("segstream-lake-bench-raw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let location = TableLocation::parse(&dir.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    *raw = runtime
        .block_on(RawTable::open_or_create(&location, "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    for copy in 1..=2 {
        let offsets: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, copy * RECORDS as i64)).collect();
        runtime
            .block_on(raw.commit(records, &offsets, now))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut group = c.benchmark_group("lake_compact");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(2 * RECORDS as u64));
    let mut run = 0;
    group.bench_function("compact_into_new_table", |b| {
        b.iter_batched(
            || {
                run += 1;
                let dir = std::env::temp_dir().join(format!("segstream-lake-bench-curated-{}-{run}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let at = TableLocation::parse(&dir.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
                let curated = runtime
                    .block_on(CuratedTable::open_or_create(&at, "events"))
                    .unwrap_or_else(|e| panic!("{e}"));
                (curated, dir)
            },
            |(mut curated, dir)| {
                let report = runtime.block_on(curated.compact(raw, &Quiet)).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(report.duplicates + report.added + report.not_events, 2 * RECORDS);
                let _ = std::fs::remove_dir_all(dir);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, lake_write);
criterion_main!(benches);
