//! Checkpoints in an S3-compatible bucket (a private moto server): parts and manifests
//! written, the newest complete one read back, one a part short skipped, retention; and
//! an unreachable bucket is an error within the retry limit, not a hang.

mod support;

use std::time::{Duration, Instant};

use segstream_checkpoint::{CheckpointStore, PartHeader};
use segstream_dataflows::classifier::emitted::ResumePoint;
use support::free_port;
use support::moto::{store_settings, Moto};

fn open(location: &str, endpoint: &str) -> Result<CheckpointStore, segstream_checkpoint::CheckpointError> {
    let owned = store_settings(endpoint);
    let options: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    CheckpointStore::open_with(location, &options)
}

fn part(as_of: u64, worker: usize, workers: usize) -> PartHeader {
    let point = ResumePoint {
        offset: as_of as i64 / 1_000,
        seen_before: Some(as_of - 1),
    };
    PartHeader {
        as_of,
        worker,
        workers,
        points: [(worker as u32, point)].into_iter().collect(),
        side_points: Default::default(),
        state_bytes: 0,
        state_crc32: 0,
        // The last is a delta on the one before.
        base: (as_of == 30_000).then_some(20_000),
        run: 1,
    }
}

#[test]
fn checkpoints_live_in_a_bucket() {
    let moto = Moto::start();
    moto.create_bucket("state");
    let store = open("s3://state/classifier/group-a", &moto.endpoint()).unwrap_or_else(|e| panic!("{e}"));
    for as_of in [10_000u64, 20_000, 30_000] {
        for worker in 0..2 {
            store
                .write_part(part(as_of, worker, 2), vec![format!("state {as_of} of {worker}").into_bytes()])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let manifest = store.commit(as_of, 2, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(manifest.map(|m| m.points.len()), Some(2), "checkpoint {as_of} committed");
    }
    store
        .write_part(part(40_000, 0, 2), vec![b"half".to_vec()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        store.commit(40_000, 2, 1).unwrap_or_else(|e| panic!("{e}")).is_none(),
        "a part short"
    );

    let reader = open("s3://state/classifier/group-a", &moto.endpoint()).unwrap_or_else(|e| panic!("{e}"));
    let latest = reader
        .latest()
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|c| (c.manifest.as_of, c.chains[1].iter().map(|s| s.to_vec()).collect::<Vec<_>>()));
    let chain = vec![b"state 20000 of 1".to_vec(), b"state 30000 of 1".to_vec()];
    assert_eq!(latest, Some((30_000, chain)), "the delta and the full part it is on");
    assert_eq!(
        reader.retain(1).unwrap_or_else(|e| panic!("{e}")),
        1,
        "10000 goes; 30000 reads 20000"
    );
    let left: Vec<String> = reader
        .objects()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert!(
        left.iter().all(|o| ["20000/", "30000/", "40000/"]
            .iter()
            .any(|kept| o.starts_with(&format!("000000000000000{kept}")))),
        "{left:?}"
    );
}

#[test]
fn an_unreachable_bucket_is_an_error_not_a_hang() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let store = open("s3://nowhere/checkpoints", &endpoint).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    assert!(store.latest().is_err());
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}
