//! `segstream stats`: the historical stats job, once (for cron) or on a schedule.
//!
//! Contract: runs [`segstream_lake::stats::run`] over the curated table into the tile
//! table, as of today (UTC) unless `--as-of` names a day, and publishes the users whose
//! stats changed: to the deployment's stats topic (`--config`; keyed by user, the value a
//! JSON object of fields, as `cache-sync` and the classifier read it) or appended to an
//! NDJSON file of upserts (`--out`; `segstream run --stats` reads it). Only the fields
//! the schema's `[stats]` declares are published; a declared field of another type than
//! the job computes is refused before anything runs. `--republish-all` publishes every
//! user, not only the changed ones (for a new classifier or an empty stats store; with
//! `--every`, at the first run). With `--every`, it runs again at
//! that interval until stopped; a run that fails is reported and retried at the next
//! one (nothing half-published is marked published).

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use segstream_config::DeploymentConfig;
use segstream_lake::curated::CuratedTable;
use segstream_lake::location::TableLocation;
use segstream_lake::stats::merge::{FieldKind, FIELDS};
use segstream_lake::stats::{Baseline, SessionLimits, StatsReport, StatsRow};
use segstream_rules::{Schema, Type};
use segstream_time::{format_timestamp, parse_duration, wall_clock_ms};

use crate::cli::StatsArgs;
use crate::error::CommandError;

/// Where changed users go.
enum Sink {
    File(std::fs::File),
    Topic { producer: BaseProducer, topic: String },
}

impl Sink {
    /// Publishes `rows`, durably (flushed to disk or acknowledged) before it returns.
    fn publish(&mut self, rows: Vec<StatsRow>) -> Result<(), String> {
        let now = format_timestamp(wall_clock_ms() as i64);
        match self {
            Sink::File(file) => {
                let mut text = Vec::new();
                for (user, stats) in rows {
                    let line = serde_json::json!({"user": user, "time": now, "stats": stats});
                    serde_json::to_writer(&mut text, &line).map_err(|e| e.to_string())?;
                    text.push(b'\n');
                }
                file.write_all(&text)
                    .and_then(|()| file.sync_data())
                    .map_err(|e| format!("writing the upserts: {e}"))
            }
            Sink::Topic { producer, topic } => {
                for (user, stats) in rows {
                    let payload = serde_json::Value::Object(stats).to_string();
                    segstream_kafka::send_waiting(producer, BaseRecord::to(topic.as_str()).key(&user).payload(&payload))
                        .map_err(|e| format!("producing to {topic}: {e}"))?;
                    producer.poll(Duration::ZERO);
                }
                producer
                    .flush(Duration::from_secs(60))
                    .map_err(|e| format!("{topic}: upserts not acknowledged: {e}"))
            }
        }
    }
}

/// The rule-language type of a computed field.
fn rule_type(kind: FieldKind) -> Type {
    match kind {
        FieldKind::Int => Type::Int,
        FieldKind::Double => Type::Double,
        FieldKind::Bool => Type::Bool,
        FieldKind::Timestamp => Type::Timestamp,
        FieldKind::Duration => Type::Duration,
        FieldKind::Ints => Type::List(Box::new(Type::Int)),
        FieldKind::Doubles => Type::List(Box::new(Type::Double)),
        FieldKind::Strings => Type::List(Box::new(Type::String)),
    }
}

/// The computed fields the schema declares; a type mismatch is an error.
pub fn published_fields(schema: &Schema) -> Result<Vec<&'static str>, String> {
    let mut fields = Vec::new();
    for (name, kind) in FIELDS {
        let Some((_, declared)) = schema.stats.lookup(name) else { continue };
        if declared.ty != rule_type(kind) || declared.is_date {
            return Err(format!(
                "the schema declares stats.{name} as {}, but the stats job computes it as {}",
                declared.ty,
                kind.schema_type()
            ));
        }
        fields.push(name);
    }
    Ok(fields)
}

/// Keeps only `fields` of each row.
pub fn only(fields: &[&str], rows: Vec<StatsRow>) -> Vec<StatsRow> {
    rows.into_iter()
        .map(|(user, mut stats)| {
            stats.retain(|name, _| fields.contains(&name.as_str()));
            (user, stats)
        })
        .collect()
}

/// Says what a run did, in one line.
pub fn describe(report: &StatsReport) -> String {
    let tiles = if report.covered_before == Some(report.curated_version) {
        format!("tiles already cover curated v{}", report.curated_version)
    } else {
        format!(
            "tiles brought to curated v{}: {} (user, day) tiles recomputed on {} days",
            report.curated_version, report.tiles_rebuilt, report.days_rebuilt
        )
    };
    format!(
        "{tiles}; as of {}: {} users compared, {} published",
        report.as_of, report.candidates, report.published
    )
}

fn sink(args: &StatsArgs) -> Result<(Sink, Schema), CommandError> {
    let invalid = |e: String| CommandError::Invalid(e);
    match (&args.out, &args.config) {
        (Some(path), None) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| invalid(format!("--out {}: {e}", path.display())))?;
            Ok((Sink::File(file), crate::commands::rules_source::load_schema(&args.schema)?))
        }
        (None, Some(config)) => {
            let config = DeploymentConfig::load(config)?;
            let producer = segstream_kafka::producer(&config).map_err(|e| invalid(format!("kafka producer: {e}")))?;
            let schema = crate::commands::rules_source::load_schema(&config.schema.path)?;
            Ok((
                Sink::Topic {
                    producer,
                    topic: config.topics.stats.clone(),
                },
                schema,
            ))
        }
        _ => Err(invalid(
            "say where the changed stats go: --out FILE or --config DEPLOYMENT.toml".into(),
        )),
    }
}

/// Today's date, UTC.
pub fn today() -> String {
    segstream_lake::curated::rows::event_date(wall_clock_ms() as i64)
}

/// The job's inputs and limits, as one run takes them.
pub struct JobPlan<'a> {
    /// The tile table.
    pub tiles_at: &'a TableLocation,
    /// The day the stats are as of.
    pub as_of: &'a str,
    /// What the consumer already holds.
    pub baseline: Baseline,
    /// The query engine's memory.
    pub limits: &'a SessionLimits,
}

/// Runs the job once over `curated` into `publish`.
pub fn run_job(
    runtime: &tokio::runtime::Runtime,
    curated: &CuratedTable,
    plan: &JobPlan,
    publish: &mut dyn FnMut(Vec<StatsRow>) -> Result<(), String>,
) -> Result<StatsReport, String> {
    runtime
        .block_on(segstream_lake::stats::run(
            curated,
            plan.tiles_at,
            plan.as_of,
            plan.baseline,
            plan.limits,
            publish,
        ))
        .map_err(|e| e.to_string())
}

/// Runs the job once over the curated table at `curated_at` into `publish`.
fn run_once(
    runtime: &tokio::runtime::Runtime,
    curated_at: &TableLocation,
    topic: &str,
    plan: &JobPlan,
    publish: &mut dyn FnMut(Vec<StatsRow>) -> Result<(), String>,
) -> Result<StatsReport, String> {
    let curated = runtime
        .block_on(CuratedTable::open_existing(curated_at, topic))
        .map_err(|e| e.to_string())?;
    run_job(runtime, &curated, plan, publish)
}

/// Runs the command (see the module contract).
pub fn run(args: &StatsArgs) -> Result<ExitCode, CommandError> {
    let invalid = |e: String| CommandError::Invalid(e);
    let curated_at = TableLocation::parse(&args.curated).map_err(|e| invalid(e.to_string()))?;
    let tiles_at = TableLocation::parse(&args.tiles).map_err(|e| invalid(e.to_string()))?;
    if let Some(day) = &args.as_of {
        segstream_lake::stats::merge::shift_day(day, 0).map_err(|e| invalid(format!("--as-of: {e}")))?;
    }
    let every = match &args.every {
        Some(text) => Some(parse_duration(text).map_err(|e| invalid(format!("--every: {e}")))?),
        None => None,
    };
    let limits = SessionLimits {
        memory_limit: parse_bytes(&args.memory_limit).map_err(|e| invalid(format!("--memory-limit: {e}")))?,
        spill_dir: args.spill_dir.clone(),
    };
    let (mut sink, schema) = sink(args)?;
    let fields = published_fields(&schema).map_err(invalid)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| invalid(format!("starting the tokio runtime: {e}")))?;
    let mut baseline = if args.republish_all {
        Baseline::Nothing
    } else {
        Baseline::LastPublished
    };
    loop {
        let started = Instant::now();
        let as_of = args.as_of.clone().unwrap_or_else(today);
        let plan = JobPlan {
            tiles_at: &tiles_at,
            as_of: &as_of,
            baseline,
            limits: &limits,
        };
        let outcome = run_once(&runtime, &curated_at, &args.topic, &plan, &mut |rows| {
            sink.publish(only(&fields, rows))
        });
        match (outcome, every) {
            (Ok(report), once) => {
                baseline = Baseline::LastPublished;
                let said = format!("stats: {} ({:.1} s)", describe(&report), started.elapsed().as_secs_f64());
                // Run once, the report is the command's result; run `--every`, a log line.
                match once {
                    None => println!("{said}"),
                    Some(_) => tracing::info!("{said}"),
                }
            }
            (Err(e), None) => return Err(invalid(format!("stats: {e}"))),
            (Err(e), Some(_)) => tracing::error!(error = %e, "stats: this run failed, the next one retries"),
        }
        let Some(every) = every else { return Ok(ExitCode::SUCCESS) };
        std::thread::sleep(Duration::from_millis(every.max(0) as u64).saturating_sub(started.elapsed()));
    }
}

/// A byte count: a number with an optional `KiB`, `MiB` or `GiB` suffix.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?} in {text:?} (use KiB, MiB or GiB)")),
    };
    let number: usize = number.parse().map_err(|_| format!("{text:?} is not a byte count such as 512MiB"))?;
    number.checked_mul(scale).ok_or_else(|| format!("{text:?} is too large"))
}
