//! The distributed classifier against the real broker (tansu) and Redis: end to end
//! against the oracle, cluster equivalence, crash-restart, outages, dead letters.
//! scripts/test starts the services; without them these tests fail.

mod support;

use std::time::Duration;

use support::deployment::{self, past_start, run_to, Deployment, SERVICES};
use support::scenario::{changes_through, final_memberships, Workload, CLASSIFIER, MALFORMED};

#[test]
fn end_to_end_changes_equal_the_oracle_in_kafka_and_redis() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("e2e", 4, CLASSIFIER);
    let start = past_start(120);
    let workload = Workload::new(&d.name, start, 24, 16);
    let producer = deployment::producer();
    workload.produce(&d, &producer);
    // Bad side records: a profile of the wrong type, and a rule set that does not
    // check. Both are dead letters; the profile and the rules in force stay as they were.
    deployment::send(&producer, &d.profiles, &workload.users[3], Some("{\"gender\": 5}"), start + 2_000);
    let bad_rules = serde_json::json!({"published_at": start + 3_000, "files": [{"name": "bad.toml",
        "text": "[[segment]]\nid = \"x\"\nname = \"X\"\nwhen = 'count(\"no_such_event\", \"1m\") >= 1'\n"}]});
    deployment::send(&producer, &d.rules, "rules", Some(&bad_rules.to_string()), start + 3_000);
    deployment::flush(&producer);
    let until = start + 60_000;
    run_to(&d, &["--workers", "2"], until, "run");

    let expected = workload.expected(until);
    assert!(
        expected.len() > 40,
        "the workload must exercise the rules: {} changes",
        expected.len()
    );
    let got = changes_through(&d, until);
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
    assert_eq!(dead.len(), MALFORMED.len() + 2, "every malformed record is a dead letter: {dead:?}");
    let said = |topic: &str, why: &str| {
        dead.iter()
            .any(|l| l["topic"] == topic && l["reason"].as_str().unwrap().contains(why))
    };
    for (_, why) in MALFORMED {
        assert!(said(&d.events, why), "no dead letter from {} says {why:?}: {dead:?}", d.events);
    }
    assert!(said(&d.profiles, "gender"), "the bad profile: {dead:?}");
    assert!(said(&d.rules, "no_such_event"), "the bad rule set: {dead:?}");
}

/// The same workload, late events included, on one process of two workers and on two
/// processes of one worker (3 partitions: one worker owns two): the change streams are
/// identical and equal the oracle's, late events judged by their partition's watermark.
#[test]
fn two_processes_of_one_worker_equal_one_process_of_two_late_events_included() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let start = past_start(120);
    let workload = Workload::new(&format!("cluster-{start}"), start, 24, 16).with_late_events(3);
    let until = start + 60_000;
    let expected = workload.expected(until);

    let single = Deployment::new("one-process", 3, CLASSIFIER);
    workload.produce(&single, &deployment::producer());
    run_to(&single, &["--workers", "2"], until, "single");

    let cluster = Deployment::new("two-processes", 3, CLASSIFIER);
    workload.produce(&cluster, &deployment::producer());
    let until_arg = until.to_string();
    let mut processes = cluster.classify_cluster(2, &["--until", &until_arg], "process");
    for (i, child) in processes.iter_mut().enumerate() {
        let status = deployment::wait_for(child, Duration::from_secs(120), "a cluster process");
        assert!(status.success(), "process {i} failed:\n{}", cluster.log(&format!("process-{i}")));
    }
    let read = |d: &Deployment| -> Vec<_> { changes_through(d, until) };
    let (one, two) = (read(&single), read(&cluster));
    assert_eq!(one, two, "1 process × 2 workers and 2 processes × 1 worker disagree");
    assert_eq!(one, expected, "and both differ from the oracle");
    let late = support::late_count(&single.log("single"));
    assert!(late >= 10, "the workload's late events were late: {late}");
}

/// Produces the first half, runs the classifier until it has emitted changes, calls
/// `interrupt` with the running process and a function that produces the rest (it must
/// call it), and finishes the run (restarting the classifier if the interruption
/// stopped it); then checks Kafka and Redis against the oracle: nothing lost, nothing
/// repeated.
fn interrupted_run(test: &str, interrupt: impl FnOnce(&Deployment, &mut std::process::Child, &mut dyn FnMut())) {
    let partitions = 4;
    // Idleness never advances the watermark here: the data (and sentinels) do, so
    // events produced after the interruption are still on time.
    let classifier = CLASSIFIER.replace("idle_timeout = \"1s\"", "idle_timeout = \"1h\"");
    let d = Deployment::new(test, partitions, &classifier);
    let start = past_start(120);
    let mut workload = Workload::new(&d.name, start, 24, 16);
    let producer = deployment::producer();
    workload.produce_tables(&d, &producer);
    let half = workload.events.len() / 2;
    workload.produce_events(&d, &producer, 0..half);
    let mut child = d.classify(&[], "first");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while deployment::read_changes(&d.changes).len() < 10 {
        assert!(std::time::Instant::now() < deadline, "no changes emitted:\n{}", d.log("first"));
        std::thread::sleep(Duration::from_millis(300));
    }
    let until = start + 60_000;
    let total = workload.events.len();
    let mut rest = || {
        workload.produce_events(&d, &producer, half..total);
        workload.produce_sentinels(&d, &producer, partitions, until + 2_000);
    };
    interrupt(&d, &mut child, &mut rest);
    if child.try_wait().unwrap().is_none() {
        // Still running (it rode out the interruption): it must get there by itself.
        deployment::wait_for_durable(&d, until, &mut child, Duration::from_secs(120));
        let _ = child.kill();
        let _ = child.wait();
    } else {
        run_to(&d, &[], until, "second");
    }
    let expected = workload.expected(until);
    let got = changes_through(&d, until);
    assert_eq!(
        got,
        expected,
        "{test}: segment-changes differ from the oracle\n{}\n{}",
        d.log("first"),
        d.log("second")
    );
    if !d.log("second").is_empty() {
        assert!(
            !d.log("second").contains("durable frontier at start 0;"),
            "the restart must resume from a recorded frontier:\n{}",
            d.log("second")
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while deployment::redis_segments(&workload.users) != final_memberships(&expected) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        deployment::redis_segments(&workload.users),
        final_memberships(&expected),
        "{test}: the profile store differs"
    );
}

#[test]
fn kill_9_mid_stream_and_restart_loses_nothing_and_repeats_nothing() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    interrupted_run("kill9", |d, child, rest| {
        // Once a durable frontier is recorded (polled, not assumed after a while), kill
        // without warning.
        support::poll_until(
            Duration::from_secs(60),
            Duration::from_millis(100),
            || match deployment::recorded_frontier(d) {
                0 => Err("no durable frontier recorded yet".to_string()),
                frontier => Ok(frontier),
            },
        );
        child.kill().unwrap();
        child.wait().unwrap();
        rest();
    });
}

#[test]
fn a_broker_restart_mid_stream_is_ridden_out_without_loss() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    interrupted_run("broker-restart", |_, child, rest| {
        deployment::services(&["stop", "tansu"]);
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the classifier must survive the broker going away"
        );
        deployment::services(&["start", "tansu"]);
        rest();
    });
}

#[test]
fn redis_down_for_ten_seconds_delays_the_store_but_not_the_stream() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    interrupted_run("redis-outage", |d, child, rest| {
        deployment::services(&["stop", "redis"]);
        let outage = std::time::Instant::now();
        let before = deployment::read_changes(&d.changes).len();
        rest();
        // Kafka output goes on while Redis is down.
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while deployment::read_changes(&d.changes).len() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "no changes reached Kafka while Redis was down"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed()));
        assert!(child.try_wait().unwrap().is_none(), "the classifier must survive Redis going away");
        deployment::services(&["start", "redis"]);
    });
}

/// A worker that cannot start (here: its events topic does not exist) stops the process
/// with the reason, so a supervisor restarts it; it used to leave the process printing
/// zeros forever while its cluster peers waited for it.
#[test]
fn a_worker_that_cannot_start_stops_the_process_instead_of_hanging() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("no-events-topic", 1, CLASSIFIER);
    let config = std::fs::read_to_string(&d.config).unwrap();
    let missing = format!("{}-never-created", d.events);
    std::fs::write(
        &d.config,
        config.replace(&format!("events = \"{}\"", d.events), &format!("events = \"{missing}\"")),
    )
    .unwrap();
    let mut child = d.classify(&[], "missing");
    let status = deployment::wait_for(&mut child, Duration::from_secs(120), "classify without its events topic");
    let log = d.log("missing");
    assert!(!status.success(), "{log}");
    assert!(log.contains("worker 0 failed") && log.contains("does not exist"), "{log}");
}
