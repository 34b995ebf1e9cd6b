//! `segstream replay`: the lake's curated events through the classifier give the same
//! change stream as `segstream run` on the same events; bad flags are refused.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use segstream_lake::curated::{CuratedTable, Quiet};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::SourceRecord;
use segstream_model::partitioning::partition_of;
use support::{late_count, scratch_path, segstream, segstream_ok};

/// The events topic's partitions (`segstream run`'s default).
const PARTITIONS: usize = 8;

fn scratch(name: &str) -> PathBuf {
    let path = scratch_path("lake_replay", name);
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn location(path: &Path) -> TableLocation {
    TableLocation::parse(&path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// `(time, user, segment, change)` of every line of a changes file, in order.
fn changes(path: &Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let field = |name: &str| v[name].to_string();
            (field("time"), field("user"), field("segment"), field("change"))
        })
        .collect()
}

/// Lands the lines of `events` in a raw table as the events topic would hold them — in
/// `PARTITIONS` partitions by user (a line without one by its number), in file order —
/// in four commits, and compacts it into a curated table; the curated table's path.
fn land(events: &Path, dir: &Path) -> PathBuf {
    let runtime = segstream_lake::runtime().unwrap_or_else(|e| panic!("{e}"));
    let (raw_at, curated_at) = (dir.join("raw"), dir.join("curated"));
    let mut raw = runtime
        .block_on(RawTable::open_or_create(&location(&raw_at), "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(events).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = text.lines().collect();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (chunk_index, chunk) in lines.chunks(lines.len().div_ceil(4)).enumerate() {
        let records: Vec<SourceRecord> = chunk
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let number = chunk_index * lines.len().div_ceil(4) + i;
                let user = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v["user"].as_str().map(str::to_string));
                let partition = user.map_or(number % PARTITIONS, |u| partition_of(&u, PARTITIONS)) as i32;
                let offset = next.entry(partition).or_insert(0);
                *offset += 1;
                SourceRecord {
                    partition,
                    offset: *offset - 1,
                    key: None,
                    payload: Some(line.as_bytes().to_vec()),
                    timestamp_ms: None,
                }
            })
            .collect();
        let offset = next.values().sum::<i64>();
        runtime
            .block_on(raw.commit(&records, &next, 1_800_000_000_000 + offset))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut curated = runtime
        .block_on(CuratedTable::open_or_create(&location(&curated_at), "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    let report = runtime.block_on(curated.compact(&raw, &Quiet)).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.duplicates > 0 && report.added > 10_000, "{report:?}");
    curated_at
}

#[test]
fn replay_of_the_lake_gives_the_change_stream_of_the_live_run_on_the_same_events() {
    let dir = scratch("same-stream");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (events, live, replayed) = (dir.join("events.ndjson"), dir.join("live.ndjson"), dir.join("replayed.ndjson"));
    let path = |p: &Path| p.display().to_string();
    segstream_ok(&["generate", "--events", "20000", "--users", "500", "--out", &path(&events)]);
    let summary = segstream_ok(&["run", "--input", &path(&events), "--out", &path(&live)]);
    assert!(late_count(&summary) > 100, "the events hold late ones: {summary}");
    let curated = land(&events, &dir);
    segstream_ok(&["replay", "--from", &path(&curated), "--workers", "2", "--out", &path(&replayed)]);
    let (live, replayed) = (changes(&live), changes(&replayed));
    assert!(live.len() > 1_000, "only {} changes", live.len());
    assert_eq!(replayed.len(), live.len());
    assert!(
        replayed == live,
        "first difference at {:?}",
        replayed.iter().zip(&live).position(|(a, b)| a != b)
    );

    // A window of event time replays only its events.
    let none = dir.join("none.ndjson");
    let stdout = segstream_ok(&[
        "replay",
        "--from",
        &path(&curated),
        "--since",
        "2100-01-01T00:00:00Z",
        "--out",
        &path(&none),
    ]);
    assert!(stdout.contains("replay: 0 events"), "{stdout}");
}

#[test]
fn replay_refuses_what_cannot_mean_anything() {
    let empty = scratch("no-table");
    let out = segstream(&["replay", "--from", &empty.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no table there"), "{out:?}");
    let out = segstream(&["replay", "--since", "2026-11-29T00:00:00Z", "--until", "2026-11-28T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not before --until"), "{out:?}");
    let out = segstream(&["replay", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an instant"), "{out:?}");
}
