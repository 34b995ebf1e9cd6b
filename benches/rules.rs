//! Rule evaluation throughput: the example segment set (configs/rules) evaluated
//! against prepared user views (configs/views), and a few typical single rules.
//! Results and the command are recorded in docs/benchmarks.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use segstream_rules::{FieldValue, RuleSet, SampleView, Schema};

const TICK_MS: i64 = 100;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The schema and the example rule set.
fn load() -> (Schema, RuleSet) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    match segstream_rules::files::load_rules(&root.join("schema.toml"), &[root.join("rules")]) {
        Ok(loaded) => (loaded.schema, loaded.set),
        Err(e) => panic!("{e}"),
    }
}

fn prepared_view(schema: &Schema, set: &RuleSet, name: &str) -> (SampleView, Vec<Option<FieldValue>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/views").join(name);
    let sample = SampleView::from_json(&read(&path), schema, TICK_MS).unwrap_or_else(|e| panic!("{name}: {e}"));
    let features = sample.features(schema, set.features(), TICK_MS);
    (sample, features)
}

fn rule_set(c: &mut Criterion) {
    let (schema, set) = load();
    let mut group = c.benchmark_group("rule_set");
    group.throughput(Throughput::Elements(set.segments().len() as u64));
    for view_name in ["whale-view.json", "sample-view.json", "new-user-view.json"] {
        let (sample, features) = prepared_view(&schema, &set, view_name);
        let view = sample.view(&features);
        group.bench_function(view_name.trim_end_matches(".json"), |b| {
            b.iter(|| {
                let mut members = 0u32;
                for segment in set.segments() {
                    members += u32::from(segment.program.matches(black_box(&view)));
                }
                members
            })
        });
    }
    group.finish();
}

fn single_rules(c: &mut Criterion) {
    let (schema, set) = load();
    let (sample, features) = prepared_view(&schema, &set, "sample-view.json");
    let view = sample.view(&features);
    let mut group = c.benchmark_group("single_rule");
    group.throughput(Throughput::Elements(1));
    for id in [
        "whales",
        "ios_women_25_34_recent_ad_clickers",
        "tier1_regulars",
        "ad_fatigued",
        "legacy_app_4x",
    ] {
        let Some(segment) = set.segments().iter().find(|s| s.def.id == id) else {
            panic!("no segment {id}")
        };
        group.bench_function(id, |b| b.iter(|| segment.program.matches(black_box(&view))));
    }
    group.finish();
}

criterion_group!(benches, rule_set, single_rules);
criterion_main!(benches);
