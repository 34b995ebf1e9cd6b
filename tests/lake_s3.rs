//! The lake on S3-compatible storage (a private moto server): the raw and curated
//! tables in a bucket, two writers racing for one commit, and an unreachable bucket.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use segstream_lake::curated::{CuratedTable, Quiet};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::SourceRecord;
use support::moto::{s3_location, Moto};
use support::{free_port, scratch_path};

fn runtime() -> tokio::runtime::Runtime {
    segstream_lake::runtime().unwrap_or_else(|e| panic!("{e}"))
}

fn records(partition: i32, offsets: std::ops::Range<i64>) -> Vec<SourceRecord> {
    offsets
        .map(|offset| SourceRecord {
            partition,
            offset,
            key: None,
            payload: Some(
                format!(
                    r#"{{"id":"e{partition}-{offset}","user":"u{}","type":"ad_watched","time":1795971600000}}"#,
                    offset % 7
                )
                .into_bytes(),
            ),
            timestamp_ms: None,
        })
        .collect()
}

fn open(location: &TableLocation) -> RawTable {
    runtime()
        .block_on(RawTable::open_or_create(location, "events"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_raw_and_curated_tables_live_in_a_bucket() {
    let moto = Moto::start();
    moto.create_bucket("lake");
    let runtime = runtime();
    let location = moto.location("lake/raw");
    let mut raw = open(&location);
    for (from, to) in [(0, 100), (100, 250)] {
        let next = BTreeMap::from([(0, to)]);
        runtime
            .block_on(raw.commit(&records(0, from..to), &next, 1_795_971_600_000))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let reopened = open(&location);
    assert_eq!(
        runtime.block_on(reopened.resume_offsets([0])).unwrap_or_else(|e| panic!("{e}")),
        BTreeMap::from([(0, 250)])
    );
    let mut coordinates = runtime.block_on(reopened.coordinates()).unwrap_or_else(|e| panic!("{e}"));
    coordinates.sort_unstable();
    assert_eq!(coordinates, (0..250).map(|o| (0, o)).collect::<Vec<_>>());
    let mut curated = runtime
        .block_on(CuratedTable::open_or_create(&moto.location("lake/curated"), "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    let report = runtime
        .block_on(curated.compact(&reopened, &Quiet))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((report.added, report.duplicates), (250, 0), "{report:?}");
    assert_eq!(runtime.block_on(curated.rows()).unwrap_or_else(|e| panic!("{e}")).len(), 250);
}

/// Two writers opened at the same version both commit the next one: the store's
/// conditional put lets one write the log entry; the other retries on top of it.
/// Writers of different partitions both land; writers of one partition (one
/// application transaction) conflict, and exactly one lands.
#[test]
fn two_writers_racing_for_one_commit_never_overwrite_each_other() {
    let moto = Moto::start();
    moto.create_bucket("race");
    let race = |location: &TableLocation, partitions: [i32; 2]| -> Vec<Result<u64, String>> {
        let barrier = Arc::new(Barrier::new(2));
        let writers: Vec<_> = partitions
            .into_iter()
            .enumerate()
            .map(|(writer, partition)| {
                let (mut table, barrier) = (open(location), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let batch = records(partition, writer as i64 * 1_000..writer as i64 * 1_000 + 50);
                    let next = BTreeMap::from([(partition, writer as i64 * 1_000 + 50)]);
                    barrier.wait();
                    runtime().block_on(table.commit(&batch, &next, 1)).map_err(|e| e.to_string())
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| panic!("writer panicked")))
            .collect()
    };
    let runtime = runtime();

    let apart = moto.location("race/apart");
    let results = race(&apart, [0, 1]);
    assert!(results.iter().all(Result::is_ok), "both land: {results:?}");
    let mut versions: Vec<u64> = results.into_iter().flatten().collect();
    versions.sort_unstable();
    assert_eq!(versions, vec![1, 2], "one after the other, neither overwritten");
    let table = open(&apart);
    assert_eq!(runtime.block_on(table.coordinates()).unwrap_or_else(|e| panic!("{e}")).len(), 100);

    let together = moto.location("race/together");
    let results = race(&together, [0, 0]);
    let landed: Vec<usize> = (0..2).filter(|w| results[*w].is_ok()).collect();
    assert_eq!(landed.len(), 1, "exactly one lands: {results:?}");
    let winner = landed[0] as i64;
    let table = open(&together);
    let mut rows = runtime.block_on(table.coordinates()).unwrap_or_else(|e| panic!("{e}"));
    rows.sort_unstable();
    assert_eq!(rows, (winner * 1_000..winner * 1_000 + 50).map(|o| (0, o)).collect::<Vec<_>>());
    assert_eq!(
        runtime.block_on(table.resume_offsets([0])).unwrap_or_else(|e| panic!("{e}")),
        BTreeMap::from([(0, winner * 1_000 + 50)])
    );
}

#[test]
fn an_unreachable_bucket_or_a_missing_one_is_a_clear_error() {
    // Nothing listens on this port.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let error = runtime()
        .block_on(RawTable::open_or_create(&s3_location("lake/raw", &endpoint), "events"))
        .map(|_| "opened".to_string())
        .unwrap_or_else(|e| e.to_string());
    assert!(error.contains("s3://lake/raw"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(60), "gave up after {:?}", started.elapsed());

    // Through the command, configured by the environment as AWS tools are.
    let moto = Moto::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["lake", "compact", "--raw", "s3://no-such-bucket/raw", "--curated"])
        .arg(scratch_path("lake_s3", "curated"))
        .envs(moto.environment())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("s3://no-such-bucket/raw"), "{stderr}");
}
