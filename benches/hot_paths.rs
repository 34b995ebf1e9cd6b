//! The classifier's per-event hot paths, one criterion group each, on realistic inputs
//! (the schema in configs/schema.toml, the example rules in configs/rules, traffic from
//! `segstream_traffic::Traffic`). Every group reports time per element:
//!
//! - `decode`: `decode_event_line` on one generated NDJSON line (a cycle of 1,024 lines
//!   of the game's event mix, late and clock-skewed events included).
//! - `dedup`: `Dedup::first_sighting` of a fresh id (each at a later tick, with the
//!   amortised horizon sweep, about 131k ids remembered) and of a duplicate.
//! - `feature_update`: `FeatureState::add` of one event to every feature of the example
//!   rules that reads its type, for a user with a day of history (the engine's event
//!   step, without dedup, expiry or re-evaluation).
//! - `rule_eval`: the whole example rule set on one user view (configs/views/
//!   sample-view.json); `benches/rules.rs` measures rule evaluation in detail.
//!
//! Run: `cargo bench --bench hot_paths` (quick check: `cargo bench --bench hot_paths --
//! --test`; shorter measurement: `-- --warm-up-time 1 --measurement-time 3`).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use segstream_dataflows::classifier::active_rules::ActiveRules;
use segstream_dataflows::classifier::dedup::Dedup;
use segstream_dataflows::classifier::feature_state::{FeatureInput, FeatureState, Ticks};
use segstream_dataflows::classifier::user_state::UserState;
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_model::event::decode::decode_event_line;
use segstream_model::event::Event;
use segstream_rules::{RuleSet, SampleView, Schema, UdfRegistry};
use segstream_time::{parse_timestamp, MS_PER_DAY};
use segstream_traffic::{Traffic, TrafficConfig};

/// Processing time of the generated traffic (that of the sample view).
const NOW: &str = "2026-11-26T10:00:00Z";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn configs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

fn now_ms() -> u64 {
    let ms = parse_timestamp(NOW).unwrap_or_else(|e| panic!("{NOW}: {e}"));
    u64::try_from(ms).unwrap_or_else(|e| panic!("{NOW}: {e}"))
}

/// The schema and the example rule set.
fn load() -> (Schema, RuleSet) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    match segstream_rules::files::load_rules(&root.join("schema.toml"), &[root.join("rules")]) {
        Ok(loaded) => (loaded.schema, loaded.set),
        Err(e) => panic!("{e}"),
    }
}

/// Clean traffic (no duplicates or malformed lines; late and skewed events stay).
fn traffic(users: u64) -> Traffic {
    let config = TrafficConfig {
        users,
        duplicate_rate: 0.0,
        malformed_rate: 0.0,
        ..TrafficConfig::default()
    };
    Traffic::new(config, 0, 1)
}

fn decode(line: &str, schema: &Schema, config: &ClassifierConfig) -> Event {
    decode_event_line(line, schema, config.future_tolerance_ms).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn decode_bench(c: &mut Criterion) {
    let (schema, _) = load();
    let config = ClassifierConfig::default();
    let mut traffic = traffic(100_000);
    let lines: Vec<String> = (0..1_024).map(|i| traffic.next_line(now_ms() + 10 * i)).collect();
    lines.iter().for_each(|line| drop(decode(line, &schema, &config)));
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("event_line", |b| {
        b.iter(|| {
            next = (next + 1) % lines.len();
            decode_event_line(black_box(&lines[next]), &schema, config.future_tolerance_ms)
        })
    });
    group.finish();
}

fn dedup_bench(c: &mut Criterion) {
    let config = ClassifierConfig::default();
    // Ids and users in the traffic model's format. Fresh ids come one every
    // horizon / 2^17, so about 2^17 are remembered; an id recurs after 2^18 insertions,
    // two horizons later, when it is long forgotten (and most likely swept).
    let pool: Vec<(String, String)> = (0..1u64 << 18).map(|i| (format!("u{}", i % 50_000), format!("p0-{i}"))).collect();
    let step = (config.dedup_horizon_ms >> 17).max(1);
    let mut group = c.benchmark_group("dedup");
    group.throughput(Throughput::Elements(1));

    let mut fresh = Dedup::new(config.tick_ms, config.dedup_horizon_ms);
    let mut now = now_ms();
    let mut next = 0;
    let mut insert = |dedup: &mut Dedup| {
        next = (next + 1) % pool.len();
        now += step;
        dedup.advance(now);
        let (user, id) = &pool[next];
        dedup.first_sighting(black_box(user), black_box(id), now)
    };
    for _ in 0..pool.len() {
        assert!(insert(&mut fresh), "a fresh id reported as a duplicate");
    }
    group.bench_function("fresh_id", |b| b.iter(|| insert(&mut fresh)));

    let mut seen = Dedup::new(config.tick_ms, config.dedup_horizon_ms);
    let remembered = &pool[..1 << 17];
    let now = now_ms();
    for (user, id) in remembered {
        assert!(seen.first_sighting(user, id, now), "a fresh id reported as a duplicate");
    }
    assert!(!seen.first_sighting(&remembered[0].0, &remembered[0].1, now));
    let mut next = 0;
    group.bench_function("duplicate", |b| {
        b.iter(|| {
            next = (next + 1) % remembered.len();
            let (user, id) = &remembered[next];
            seen.first_sighting(black_box(user), black_box(id), now)
        })
    });
    group.finish();
}

/// Adds an event to every feature that reads its type, as the engine does.
fn apply(user: &mut UserState, rules: &ActiveRules, event: &Event, now: u64, ticks: Ticks) {
    let input = FeatureInput {
        event_type: event.event_type,
        time: event.time,
        id: &event.id,
        properties: &event.properties,
    };
    let specs = rules.set.features();
    for &slot in rules.features_by_type.get(event.event_type as usize).into_iter().flatten() {
        let feature = user
            .features
            .get_or_insert_with(slot, || FeatureState::new(&specs[slot], rules.int_property[slot]));
        feature.add(&specs[slot], input, now, ticks);
    }
}

fn feature_update_bench(c: &mut Criterion) {
    let (schema, set) = load();
    let config = ClassifierConfig::default();
    let defs = set.segments().iter().map(|s| s.def.clone()).collect();
    let rules = ActiveRules::new(&schema, &UdfRegistry::new(), defs).unwrap_or_else(|e| panic!("rules: {e}"));
    let ticks = Ticks { tick_ms: config.tick_ms };
    // One user (the only one of the traffic): a day of history, an event every 40 s
    // on average, then the 256 events of the next few minutes to apply.
    let mut traffic = traffic(1);
    let start = now_ms() - MS_PER_DAY as u64;
    let mut events = (0u64..).map(|i| {
        let now = start + 40_000 * i + i * 7_919 % 20_000;
        (decode(&traffic.next_line(now), &schema, &config), config.tick_of(now))
    });
    let mut warm = UserState::new(&rules);
    let mut last = 0;
    for (event, now) in events.by_ref().take(2_160) {
        apply(&mut warm, &rules, &event, now, ticks);
        last = now;
    }
    for (slot, spec) in rules.set.features().iter().enumerate() {
        if let Some(state) = warm.features.get_mut(slot) {
            state.expire(spec, last, ticks);
        }
    }
    let next: Vec<(Event, u64)> = events.take(256).collect();

    let mut group = c.benchmark_group("feature_update");
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply_event", |b| {
        // Each run of up to 256 events starts from a copy of the warm user, made and
        // dropped outside the timing, so that the state does not grow without bound.
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(next.len() as u64) as usize;
                let mut user = warm.clone();
                let started = Instant::now();
                for (event, now) in &next[..n] {
                    apply(black_box(&mut user), &rules, black_box(event), *now, ticks);
                }
                total += started.elapsed();
                done += n as u64;
            }
            total
        })
    });
    group.finish();
}

fn rule_eval_bench(c: &mut Criterion) {
    let (schema, set) = load();
    let tick_ms = ClassifierConfig::default().tick_ms as i64;
    let path = configs().join("views/sample-view.json");
    let sample = SampleView::from_json(&read(&path), &schema, tick_ms).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let features = sample.features(&schema, set.features(), tick_ms);
    let view = sample.view(&features);
    let mut group = c.benchmark_group("rule_eval");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rule_set_one_view", |b| {
        b.iter(|| {
            set.segments()
                .iter()
                .filter(|segment| segment.program.matches(black_box(&view)))
                .count()
        })
    });
    group.finish();
}

criterion_group!(decode_group, decode_bench);
criterion_group!(dedup_group, dedup_bench);
criterion_group!(feature_update_group, feature_update_bench);
criterion_group!(rule_eval_group, rule_eval_bench);
criterion_main!(decode_group, dedup_group, feature_update_group, rule_eval_group);
