//! `segstream run --input FILE`: classify a file of events and exit when it is done.
//!
//! Contract: reads NDJSON events (one object per line; a line that does not decode is
//! rejected with its line number and reason and counted, the rest is processed) into
//! `--partitions` partitions by user (a rejected line by its number), read in file
//! order, so the changes — late events included — are the same for any `--workers`; and,
//! optionally, profile and stats upserts (`--profiles`, `--stats`); runs the same
//! dataflow as the demo to completion — every window expired — writes the membership
//! changes as NDJSON, and prints a summary. Exit code 0 even when event lines were
//! rejected: they are reported, not fatal. [`classify_lines`] is that whole run over
//! any sequence of lines (`segstream replay` gives it the lake's).

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use segstream_dataflows::bounded::{run_bounded, SideInputs};
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::source::{SourceRecord, VecSource};
use segstream_dataflows::dataflow::Shared;
use segstream_model::event::decode::decode_event_line;
use segstream_model::partitioning::partition_of;
use segstream_rules::UdfRegistry;

use super::rules_source::load_schema_and_rules;
use super::upsert_file::read_upserts;
use crate::cli::{BoundedRunFlags, RunArgs};
use crate::error::CommandError;
use segstream_dataflows::live::summary;
use segstream_embedded::change_writer::ChangeWriter;
use segstream_time::wall_clock_ms;

/// How many rejected lines are printed.
const SHOWN_REJECTIONS: usize = 5;

/// Runs the file.
pub fn run(args: &RunArgs) -> Result<ExitCode, CommandError> {
    let file = std::fs::File::open(&args.input).map_err(|source| CommandError::Read {
        path: args.input.clone(),
        source,
    })?;
    let lines = std::io::BufReader::new(file).split(b'\n').map(|line| {
        line.map(|bytes| (None, bytes)).map_err(|source| CommandError::Read {
            path: args.input.clone(),
            source,
        })
    });
    let input = args.input.display().to_string();
    classify_lines(&args.run, args.partitions as usize, lines, |number| {
        format!("{input}:{}", number + 1)
    })
}

/// Classifies `lines` in `partitions` partitions as `segstream run` does (see the
/// module contract): a line with a partition of its own stays in it (a replayed topic
/// record), any other goes to its user's. `origin` names where the line of a given
/// index came from, for rejections.
pub fn classify_lines(
    flags: &BoundedRunFlags,
    partitions: usize,
    lines: impl Iterator<Item = Result<(Option<usize>, Vec<u8>), CommandError>>,
    origin: impl Fn(usize) -> String,
) -> Result<ExitCode, CommandError> {
    let (schema, defs) = load_schema_and_rules(&flags.schema.schema, &flags.rules)?;
    let workers = flags
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let config = super::classifier_flags::classifier_config(&flags.classifier)?;
    let mut partitions: Vec<Vec<SourceRecord>> = vec![Vec::new(); partitions.max(1)];
    let mut shown = 0;
    for (number, line) in lines.enumerate() {
        let (given, bytes) = line?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (partition, record) = match std::str::from_utf8(&bytes)
            .map_err(|_| "not UTF-8 text".to_string())
            .and_then(|text| decode_event_line(text, &schema, config.future_tolerance_ms).map_err(|e| e.reason))
        {
            Ok(event) => (partition_of(&event.user, partitions.len()), SourceRecord::Event(event)),
            Err(reason) => {
                if shown < SHOWN_REJECTIONS {
                    tracing::warn!("{}: rejected: {reason}", origin(number));
                    shown += 1;
                }
                (number % partitions.len(), SourceRecord::Rejected(reason))
            }
        };
        let partition = given.map_or(partition, |p| p % partitions.len());
        partitions[partition].push(record);
    }
    let profiles = match &flags.profiles {
        Some(path) => read_upserts(path, "profile", &schema.profile, &config)?,
        None => Vec::new(),
    };
    let stats = match &flags.stats {
        Some(path) => read_upserts(path, "stats", &schema.stats, &config)?,
        None => Vec::new(),
    };
    let metrics = Arc::new(ClassifierMetrics::default());
    let shared = Shared {
        schema: Arc::new(schema),
        udfs: Arc::new(UdfRegistry::new()),
        config,
        metrics: Arc::clone(&metrics),
        clock: Arc::new(|| 0),
        source_budget: 4_096,
        lookups: Default::default(),
    };
    let side = SideInputs {
        rules: vec![(0, defs)],
        profiles,
        stats,
    };
    let partitions = Arc::new(partitions);
    let changes = run_bounded(timely::Config::process(workers), shared, side, move |index, peers| {
        VecSource::for_worker(&partitions, index, peers)
    })
    .map_err(CommandError::Invalid)?;
    let mut writer = ChangeWriter::create(&flags.out).map_err(|source| CommandError::Read {
        path: flags.out.clone(),
        source,
    })?;
    let now = wall_clock_ms();
    for change in &changes {
        writer.write(&change.user, &change.segment, change.time, if change.entered { 1 } else { -1 }, now);
    }
    let written = writer.flush().map_err(CommandError::Invalid)?;
    println!("done: {}; {written} changes written to {}", summary(&metrics), flags.out.display());
    Ok(ExitCode::SUCCESS)
}
