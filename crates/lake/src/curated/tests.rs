//! The curated table against an independent deduplication of what the raw table got.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::test_lake::Lake;

const DAY_MS: i64 = 86_400_000;
/// 2026-11-27T00:00:00Z.
const FIRST_DAY: i64 = 1_795_737_600_000;

impl Lake {
    /// `(user, id, time, payload)` of every curated row, sorted.
    fn curated_rows(&self) -> Vec<(String, String, i64, Vec<u8>)> {
        let rows = self.runtime.block_on(self.curated.rows()).unwrap_or_else(|e| panic!("{e}"));
        let mut out: Vec<_> = rows
            .into_iter()
            .map(|r| (r.user, r.event_id, r.event_time_ms, r.payload.unwrap_or_default()))
            .collect();
        out.sort();
        out
    }

    /// The same, computed from what was sent: every JSON object with a user, an id and a
    /// numeric time, first copy of each (user, id) wins.
    fn expected(&self) -> Vec<(String, String, i64, Vec<u8>)> {
        let mut first = BTreeMap::new();
        for payload in &self.sent {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
                continue;
            };
            let (Some(user), Some(id), Some(time)) = (value["user"].as_str(), value["id"].as_str(), value["time"].as_i64()) else {
                continue;
            };
            first.entry((user.to_string(), id.to_string())).or_insert((time, payload.clone()));
        }
        first.into_iter().map(|((u, i), (t, p))| (u, i, t, p)).collect()
    }
}

fn event(user: u32, id: u32, time: i64) -> Vec<u8> {
    format!(r#"{{"id":"e{id}","user":"u{user}","type":"ad_watched","time":{time},"properties":{{"n":{id}}}}}"#).into_bytes()
}

/// `count` events of 40 users over the three days from `FIRST_DAY`, from id `from`.
fn events(from: u32, count: u32) -> Vec<Vec<u8>> {
    (from..from + count)
        .map(|id| {
            event(
                id % 40,
                id,
                FIRST_DAY + i64::from(id.wrapping_mul(2_654_435_761) % 3) * DAY_MS + i64::from(id) * 1_000,
            )
        })
        .collect()
}

#[test]
fn the_curated_table_equals_an_independent_dedup_through_late_events_retries_and_reruns() {
    let mut lake = Lake::new("oracle");
    let mut first = events(0, 600);
    first.extend(first[..50].to_vec()); // retries within one commit
    first.push(b"not json".to_vec());
    first.push(br#"{"user":"u1","type":"no id","time":1}"#.to_vec());
    lake.send(&first, FIRST_DAY + 3 * DAY_MS);
    lake.send(&events(600, 300), FIRST_DAY + 3 * DAY_MS + 1_000);
    let report = lake.compact();
    assert_eq!((report.raw_files, report.raw_rows, report.not_events), (2, 952, 2), "{report:?}");
    assert_eq!((report.duplicates, report.added, report.dates), (50, 900, 3), "{report:?}");
    assert_eq!(lake.curated_rows(), lake.expected());

    let version = lake.curated.version();
    let again = lake.compact();
    assert_eq!((again.committed, again.raw_files), (None, 0), "nothing new: nothing committed");
    assert_eq!(lake.curated.version(), version);

    // Retries of events curated in an earlier run, and late events into the first day.
    let mut later = events(100, 20);
    later.extend((0..30).map(|i| event(i % 40, 10_000 + i, FIRST_DAY + i64::from(i))));
    let before = lake.runtime.block_on(lake.curated.rows()).unwrap_or_else(|e| panic!("{e}"));
    lake.send(&later, FIRST_DAY + 4 * DAY_MS);
    let report = lake.compact();
    assert_eq!((report.duplicates, report.added, report.dates), (20, 30, 1), "{report:?}");
    assert_eq!(lake.curated_rows(), lake.expected());
    let after = lake.runtime.block_on(lake.curated.rows()).unwrap_or_else(|e| panic!("{e}"));
    let unchanged = |rows: &[CuratedRow]| -> BTreeSet<(String, String, i64)> {
        rows.iter()
            .filter(|r| event_date(r.event_time_ms) != "2026-11-27")
            .map(|r| (r.user.clone(), r.event_id.clone(), r.source_offset))
            .collect()
    };
    assert_eq!(unchanged(&before), unchanged(&after), "other dates are untouched");
}

#[test]
fn a_run_in_chunks_killed_between_two_equals_one_run() {
    let mut lake = Lake::new("chunks");
    for round in 0..4u32 {
        let mut batch = events(round * 100, 100);
        // Retries of earlier rounds' events, whose payloads differ from the originals
        // (a resend stamps its own sent_at): the original must win.
        batch.extend(events(round * 50, 20).into_iter().map(|mut payload| {
            payload.pop();
            payload.extend_from_slice(br#","sent_at":"resent"}"#);
            payload
        }));
        lake.send(&batch, FIRST_DAY + 3 * DAY_MS + i64::from(round));
    }
    let raw = lake.raw();
    // One file a chunk, and the run stops after two of the four.
    let stopped = lake
        .runtime
        .block_on(lake.curated.compact_in_chunks(&raw, &Quiet, 1, Some(2)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stopped.committed, Some(2), "two chunk commits: {stopped:?}");
    assert_eq!(lake.runtime.block_on(lake.curated.covered_raw_version()).ok().flatten(), None);
    let report = lake
        .runtime
        .block_on(lake.curated.compact_in_chunks(&raw, &Quiet, 1, None))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.raw_files, 4, "the covered version did not move: all four are read again");
    assert_eq!(
        lake.runtime.block_on(lake.curated.covered_raw_version()).ok().flatten(),
        raw.version()
    );
    assert_eq!(lake.curated_rows(), lake.expected());
    assert_eq!(lake.curated_rows().len(), 400);
}

#[test]
fn small_files_of_a_date_are_compacted_and_nothing_is_lost_or_doubled() {
    let mut lake = Lake::new("small");
    let mut compacted = 0;
    for round in 0..20u32 {
        let mut batch: Vec<Vec<u8>> = (0..5).map(|i| event(i, round * 5 + i, FIRST_DAY + i64::from(round))).collect();
        batch.push(event(0, round * 5, FIRST_DAY + i64::from(round)));
        lake.send(&batch, FIRST_DAY + DAY_MS + i64::from(round));
        let report = lake.compact();
        assert_eq!((report.added, report.duplicates), (5, 1), "round {round}: {report:?}");
        compacted += report.files_compacted;
        let counts = lake.curated.file_counts().unwrap_or_else(|e| panic!("{e}"));
        assert!(counts["2026-11-27"] <= SMALL_FILES_TO_COMPACT, "round {round}: {counts:?}");
    }
    assert_eq!(lake.curated_rows(), lake.expected());
    assert_eq!(lake.curated_rows().len(), 100);
    assert!(compacted >= 14, "small files were rewritten: {compacted}");
}

/// Commits a second batch, breaks the raw table's newest file with `break_it` (given its
/// path on disk), and runs a compaction: its error, the broken file's name, and
/// whether the curated table kept what it had.
fn compact_over_a_broken_file(name: &str, break_it: impl Fn(&std::path::Path)) -> (String, String, bool) {
    let mut lake = Lake::new(name);
    lake.send(&events(0, 50), FIRST_DAY);
    lake.compact();
    let kept = lake.curated_rows();
    lake.send(&events(50, 50), FIRST_DAY + 1);
    let raw = lake.raw();
    let snapshot = raw.delta().snapshot().unwrap_or_else(|e| panic!("{e}"));
    let known: BTreeSet<String> = lake
        .runtime
        .block_on(lake.curated.rows())
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.event_id.clone())
        .collect();
    assert_eq!(known.len(), 50);
    let files: Vec<String> = snapshot.log_data().into_iter().map(|f| f.path().to_string()).collect();
    let root = lake.raw_at.url.to_file_path().unwrap_or_else(|()| panic!("not a path"));
    // The newest file is the one whose events are not curated yet.
    let newest = files
        .iter()
        .find(|path| {
            let rows = lake
                .runtime
                .block_on(read_events(raw.delta(), raw.location(), &Path::from(path.as_str()), None))
                .map(|(rows, _)| rows)
                .unwrap_or_default();
            rows.iter().all(|r| !known.contains(&r.event_id))
        })
        .unwrap_or_else(|| panic!("no new file among {files:?}"))
        .clone();
    break_it(&root.join(&newest));
    let error = lake
        .runtime
        .block_on(lake.curated.compact(&raw, &Quiet))
        .map(|r| format!("{r:?}"))
        .unwrap_or_else(|e| e.to_string());
    let file = newest.rsplit('/').next().unwrap_or("?").to_string();
    (error, file, lake.curated_rows() == kept)
}

#[test]
fn a_damaged_file_of_the_raw_table_is_named_and_nothing_committed_is_lost() {
    let (error, file, kept) = compact_over_a_broken_file("damaged", |path| {
        std::fs::write(path, b"PAR1 this is not parquet").unwrap_or_else(|e| panic!("{e}"))
    });
    assert!(error.contains("parquet file") && error.contains(&file), "{error}");
    assert!(kept, "the curated table is as it was");
}

#[test]
fn a_missing_partition_of_the_raw_table_is_named_and_nothing_committed_is_lost() {
    let (error, file, kept) = compact_over_a_broken_file("missing", |path| {
        let partition = path.parent().unwrap_or_else(|| panic!("no partition"));
        std::fs::remove_dir_all(partition).unwrap_or_else(|e| panic!("{e}"))
    });
    assert!(error.contains(&file) && error.contains("not found"), "{error}");
    assert!(kept, "the curated table is as it was");
}
