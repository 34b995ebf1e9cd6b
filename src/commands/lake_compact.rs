//! `segstream lake compact`: the curated table, brought up to the raw table.
//!
//! Contract: opens the raw table (which must exist: a missing one is an error, not an
//! empty run) and the curated table (created if missing), runs
//! [`segstream_lake::curated::CuratedTable::compact`] once and prints what it did.
//! Idempotent, for cron: a second run with nothing new commits nothing. On a terminal
//! it draws progress bars for the raw bytes read and the dates merged.

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use segstream_lake::curated::{CompactReport, CuratedTable, Progress};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;

use crate::cli::LakeCompactArgs;
use crate::error::CommandError;

/// Progress bars on stderr (hidden when it is not a terminal).
struct Bars {
    read: ProgressBar,
    merged: ProgressBar,
}

impl Bars {
    fn new() -> Bars {
        let bar = |template: &str| {
            let bar = ProgressBar::hidden();
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        };
        Bars {
            read: bar("reading raw  {bar:40} {binary_bytes}/{binary_total_bytes} ({eta})"),
            merged: bar("merging     {bar:40} {pos}/{len} dates"),
        }
    }
}

impl Progress for Bars {
    fn reading(&self, _files: u64, bytes: u64) {
        self.read.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.read.set_length(bytes);
    }
    fn read_one(&self, bytes: u64) {
        self.read.inc(bytes);
    }
    fn merging(&self, dates: u64) {
        self.read.finish();
        self.merged.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.merged.set_length(dates);
    }
    fn merged_one(&self) {
        self.merged.inc(1);
    }
}

/// Says what a run did, in one line.
pub fn describe(report: &CompactReport) -> String {
    match report.committed {
        None => format!("curated table already covers raw version {}; nothing to do", report.raw_version),
        Some(version) => format!(
            "curated v{version} covers raw v{}: {} raw files, {} rows read ({} not events); {} events added to {} dates, {} duplicates dropped, {} small files compacted",
            report.raw_version,
            report.raw_files,
            report.raw_rows,
            report.not_events,
            report.added,
            report.dates,
            report.duplicates,
            report.files_compacted
        ),
    }
}

/// Runs one compaction (see the module contract).
pub fn run(args: &LakeCompactArgs) -> Result<ExitCode, CommandError> {
    let invalid = |e: String| CommandError::Invalid(e);
    let runtime = segstream_lake::runtime().map_err(|e| invalid(e.to_string()))?;
    let raw_at = TableLocation::parse(&args.raw).map_err(|e| invalid(e.to_string()))?;
    let curated_at = TableLocation::parse(&args.curated).map_err(|e| invalid(e.to_string()))?;
    let raw = runtime
        .block_on(RawTable::open_existing(&raw_at, &args.topic))
        .map_err(|e| invalid(e.to_string()))?;
    let mut curated = runtime
        .block_on(CuratedTable::open_or_create(&curated_at, &args.topic))
        .map_err(|e| invalid(e.to_string()))?;
    let bars = Bars::new();
    let report = runtime.block_on(curated.compact(&raw, &bars)).map_err(|e| invalid(e.to_string()))?;
    bars.merged.finish_and_clear();
    bars.read.finish_and_clear();
    println!("lake compact: {}", describe(&report));
    Ok(ExitCode::SUCCESS)
}
