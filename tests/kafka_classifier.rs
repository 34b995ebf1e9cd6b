//! The distributed classifier against the real broker (tansu) and Redis: end to end
//! against the oracle, cluster equivalence, crash-restart, outages, dead letters.
//! scripts/test starts the services; without them these tests fail.

mod support;

use std::time::Duration;

use support::deployment::{self, Deployment, SERVICES};
use support::scenario::{final_memberships, sorted_without_repeats, Workload, CLASSIFIER, MALFORMED};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A start time in the past, so the run's windows expire at once, as a multiple of the tick.
fn past_start(seconds_ago: u64) -> u64 {
    let t = now_ms() - seconds_ago * 1_000;
    t - t % 100
}

fn run_to(d: &Deployment, args: &[&str], until: u64, log: &str) {
    let until = until.to_string();
    let mut all = vec!["--until", until.as_str()];
    all.extend_from_slice(args);
    let mut child = d.classify(&all, log);
    let status = deployment::wait_for(&mut child, Duration::from_secs(120), "classify");
    assert!(status.success(), "classify failed:\n{}", d.log(log));
}

#[test]
fn end_to_end_changes_equal_the_oracle_in_kafka_and_redis() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("e2e", 4, CLASSIFIER);
    let start = past_start(120);
    let workload = Workload::new(start, 24, 16);
    workload.produce(&d, &deployment::producer());
    let until = start + 60_000;
    run_to(&d, &["--workers", "2"], until, "run");

    let expected = workload.expected(until);
    assert!(
        expected.len() > 40,
        "the workload must exercise the rules: {} changes",
        expected.len()
    );
    let got: Vec<_> = sorted_without_repeats(deployment::read_changes(&d.changes), "segment-changes")
        .into_iter()
        .filter(|c| c.2 <= until)
        .collect();
    assert_eq!(got, expected, "segment-changes differ from the oracle\n{}", d.log("run"));
    assert_eq!(
        deployment::redis_segments(&workload.users),
        final_memberships(&expected),
        "the profile store differs"
    );

    let dead: Vec<serde_json::Value> = deployment::read_all(&d.dead_letter)
        .into_iter()
        .map(|(_, p, _)| serde_json::from_slice(&p.unwrap()).unwrap())
        .collect();
    assert_eq!(dead.len(), MALFORMED.len(), "every malformed record is a dead letter: {dead:?}");
    for (_, why) in MALFORMED {
        assert!(
            dead.iter()
                .any(|d| d["reason"].as_str().unwrap().contains(why) && d["topic"] == d["topic"].clone()),
            "no dead letter says {why:?}: {dead:?}"
        );
    }
}
