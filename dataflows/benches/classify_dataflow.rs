//! The classifier's hot path end to end: the whole timely dataflow (event source,
//! exchange by user, the classify operator with dedup, features, the profile and stats
//! join, rules and membership, and the segment sizes) on one worker, to completion.
//!
//! Input: 200,000 generated records of 20,000 users (`segstream_traffic`: 2 %
//! duplicates, 5 % late, 0.1 % malformed), the example rules of `configs/rules`, a
//! profile and a stats row for every user loaded at tick 0. What is timed is
//! `run_bounded` over the decoded records, so the figure is the dataflow's own work
//! (decoding is in the workspace root's `benches/hot_paths.rs`).
//!
//! Run: `cargo bench -p segstream-dataflows --bench classify_dataflow`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use segstream_dataflows::bounded::{run_bounded, SideInputs};
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::source::{SourceRecord, VecSource};
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_dataflows::dataflow::Shared;
use segstream_model::event::decode::decode_event_line;
use segstream_model::event::Row;
use segstream_rules::{FieldSet, UdfRegistry};
use segstream_traffic::{Traffic, TrafficConfig};

const USERS: u64 = 20_000;
const RECORDS: u64 = 200_000;
/// 2025-11-26T10:00:00Z, the generator's usual start.
const START_MS: u64 = 1_764_151_200_000;
/// Event time advances 1 s per 1,000 records.
const RECORDS_PER_SECOND: u64 = 1_000;

fn workspace_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn row(fields: &FieldSet, json: &serde_json::Value) -> Row {
    fields.read_json_value(json).unwrap_or_else(|e| panic!("generated row: {e}"))
}

fn classify_dataflow_bench(c: &mut Criterion) {
    let rule_files: Vec<PathBuf> = ["ads", "audiences", "engagement", "monetization"]
        .iter()
        .map(|name| workspace_file(&format!("configs/rules/{name}.toml")))
        .collect();
    let loaded =
        segstream_rules::files::load_rules(&workspace_file("configs/schema.toml"), &rule_files).unwrap_or_else(|e| panic!("configs: {e}"));
    let (schema, defs) = (Arc::new(loaded.schema), loaded.defs);
    let config = ClassifierConfig::default();
    let traffic = TrafficConfig {
        users: USERS,
        ..TrafficConfig::default()
    };
    let mut generator = Traffic::new(traffic, 0, 1);
    let records: Vec<SourceRecord> = (0..RECORDS)
        .map(|n| {
            let line = generator.next_line(START_MS + n * 1000 / RECORDS_PER_SECOND);
            match decode_event_line(&line, &schema, config.future_tolerance_ms) {
                Ok(event) => SourceRecord::Event(event),
                Err(e) => SourceRecord::Rejected(e.reason),
            }
        })
        .collect();
    let side = SideInputs {
        rules: vec![(0, defs)],
        profiles: (0..USERS)
            .map(|u| (0, format!("u{u}"), Some(row(&schema.profile, &generator.profile(u)))))
            .collect(),
        stats: (0..USERS)
            .map(|u| (0, format!("u{u}"), Some(row(&schema.stats, &generator.stats(u)))))
            .collect(),
    };
    let partitions = Arc::new(vec![records]);

    let mut group = c.benchmark_group("classify_dataflow");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("one_worker_200k_records_20k_users", |b| {
        b.iter(|| {
            let shared = Shared {
                schema: Arc::clone(&schema),
                udfs: Arc::new(UdfRegistry::new()),
                config,
                metrics: Arc::new(ClassifierMetrics::default()),
                clock: Arc::new(|| 0),
                source_budget: 4_096,
                lookups: Default::default(),
            };
            let partitions = Arc::clone(&partitions);
            let changes = run_bounded(timely::Config::thread(), shared, side.clone(), move |i, n| {
                VecSource::for_worker(&partitions, i, n)
            })
            .unwrap_or_else(|e| panic!("dataflow: {e}"));
            assert!(!changes.is_empty(), "the rules put some of 20,000 users in segments");
            changes.len()
        })
    });
    group.finish();
}

criterion_group!(classify_dataflow_group, classify_dataflow_bench);
criterion_main!(classify_dataflow_group);
