//! `segstream replay`: the lake's curated events through the classifier's dataflow.
//!
//! Contract: reads the events of the curated table at `--from` whose event time is in
//! `[--since, --until)` (only the dates they can fall on are read; all of them are held
//! in memory, so bound a long history with the two flags), puts each partition of the
//! events topic back in offset order — what the live classifier read, partition by
//! partition, each judged against its own watermark — and classifies them exactly as
//! `segstream run` classifies a file ([`super::run_file::classify_lines`]): same rules,
//! side inputs and dataflow, to completion. The
//! changes go to the `--out` file: a replay never writes into the live changes topic,
//! so it cannot double-emit; a standby or a recovery reads the file (see
//! `docs/lake.md`). A replay from `--since` starts with empty state: windows reaching
//! back before it are exact only once the replayed time covers them.

use std::collections::BTreeSet;
use std::process::ExitCode;

use segstream_lake::curated::CuratedTable;
use segstream_lake::location::TableLocation;

use crate::cli::ReplayArgs;
use crate::error::CommandError;

/// An instant given as RFC 3339 text or epoch milliseconds.
fn instant(flag: &str, text: &Option<String>) -> Result<Option<i64>, CommandError> {
    let Some(text) = text else { return Ok(None) };
    let parsed = match text.parse::<i64>() {
        Ok(ms) => Ok(ms),
        Err(_) => segstream_time::parse_timestamp(text),
    };
    parsed
        .map(Some)
        .map_err(|e| CommandError::Invalid(format!("{flag} {text:?}: not an instant (RFC 3339 or epoch ms): {e}")))
}

/// Runs the replay (see the module contract).
pub fn run(args: &ReplayArgs) -> Result<ExitCode, CommandError> {
    let (since, until) = (instant("--since", &args.since)?, instant("--until", &args.until)?);
    if let (Some(since), Some(until)) = (since, until) {
        if since >= until {
            return Err(CommandError::Invalid(format!("--since {since} is not before --until {until}")));
        }
    }
    let invalid = |e: String| CommandError::Invalid(format!("--from {}: {e}", args.from));
    let location = TableLocation::parse(&args.from).map_err(|e| invalid(e.to_string()))?;
    let runtime = segstream_lake::runtime().map_err(|e| invalid(e.to_string()))?;
    let table = runtime
        .block_on(CuratedTable::open_existing(&location, "events"))
        .map_err(|e| invalid(e.to_string()))?;
    let mut events = runtime
        .block_on(table.events_between(since, until))
        .map_err(|e| invalid(e.to_string()))?;
    // Each partition of the topic, in offset order: the order the live classifier read
    // it in, judged against its own watermark as live.
    events.sort_by_key(|row| (row.source_partition, row.source_offset));
    let topic_partitions: Vec<i32> = events
        .iter()
        .map(|e| e.source_partition)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    println!(
        "replay: {} events of {} ({} .. {})",
        events.len(),
        location.url,
        since.map_or("the beginning".into(), segstream_time::format_timestamp),
        until.map_or("the end".into(), segstream_time::format_timestamp),
    );
    // Where each line came from, named only for the few rejections shown.
    let origins: Vec<(i32, i64)> = events.iter().map(|e| (e.source_partition, e.source_offset)).collect();
    let index = |partition: i32| topic_partitions.binary_search(&partition).unwrap_or(0);
    let lines = events
        .into_iter()
        .map(|e| Ok((Some(index(e.source_partition)), e.payload.unwrap_or_default())));
    super::run_file::classify_lines(&args.run, topic_partitions.len(), lines, |n| {
        origins.get(n).map_or("lake event ?".into(), |(partition, offset)| {
            format!("lake event at {partition}/{offset}")
        })
    })
}
