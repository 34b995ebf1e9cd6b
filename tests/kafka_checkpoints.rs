//! Checkpoints of the distributed classifier on the real broker (tansu) and Redis:
//! kill -9 under load (half of them the moment a new checkpoint is complete, half the
//! moment one is under way: parts written, no manifest yet), a restart after the topic's
//! retention (a minute, far shorter than the dedup horizon) deleted every record the
//! checkpoint covers, and rescaling 2 processes → 3 → 1,
//! each restart restoring the newest complete checkpoint and replaying the events
//! topic only from its offsets; the change stream equals the oracle's (an
//! uninterrupted run's) with no gap and no change twice, and so does the profile store.
//! scripts/test starts the services; without them these tests fail.

mod support;

use rdkafka::producer::BaseProducer;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use support::deployment::{self, now_ms, past_start, run_to, Deployment, SERVICES};
use support::scenario::{changes_through, final_memberships, Produced, Workload, CLASSIFIER};

const PARTITIONS: i32 = 4;

/// A deployment checkpointing every second of event time (the keys before
/// `CLASSIFIER`'s section belong to `[checkpoints]`); idleness never moves the
/// watermark, the data does. Users idle for 2 s are evicted, so checkpoints hold
/// dormant records (with their rows, which a restore seeds the arrangements with).
fn deployment(test: &str) -> Deployment {
    let classifier = CLASSIFIER.replace("idle_timeout = \"1s\"", "idle_timeout = \"1h\"") + "user_ttl = \"2s\"\n";
    Deployment::new(
        test,
        PARTITIONS,
        &format!("interval = \"1s\"\nfull_every = 3\nkeep = 2\n{classifier}"),
    )
}

/// The deployment's checkpoint directory.
fn checkpoints(d: &Deployment) -> PathBuf {
    support::scratch_path("checkpoints", &d.name)
}

/// The ticks of the deployment's complete checkpoints (those with a manifest).
fn complete(d: &Deployment) -> Vec<u64> {
    let mut ticks: Vec<u64> = std::fs::read_dir(checkpoints(d))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|entry| entry.path().join("manifest.json").exists())
                .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ticks.sort_unstable();
    ticks
}

/// Waits until a checkpoint newer than `after` is complete; its tick.
fn newer_checkpoint(d: &Deployment, after: u64, children: &mut [Child], log: &str) -> u64 {
    support::poll_until(Duration::from_secs(90), Duration::from_millis(50), || {
        for child in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("classify exited ({status}) before checkpointing:\n{}", d.log(log));
            }
        }
        complete(d)
            .last()
            .copied()
            .filter(|t| *t > after)
            .ok_or_else(|| format!("no checkpoint after {after} yet: {:?}", complete(d)))
    })
}

/// Waits until a checkpoint newer than `after` is under way (a part of it written, its
/// manifest not yet) or complete; its tick, and whether it was under way.
fn checkpoint_under_way(d: &Deployment, after: u64, children: &mut [Child], log: &str) -> (u64, bool) {
    support::poll_until(Duration::from_secs(90), Duration::from_millis(2), || {
        for child in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("classify exited ({status}) before checkpointing:\n{}", d.log(log));
            }
        }
        let newer = std::fs::read_dir(checkpoints(d))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let tick: u64 = entry.file_name().to_str()?.parse().ok()?;
                let parts = std::fs::read_dir(entry.path()).ok()?.filter_map(Result::ok).count();
                (tick > after && parts > 0).then(|| (tick, !entry.path().join("manifest.json").exists()))
            });
        newer.max().ok_or_else(|| format!("no checkpoint after {after} under way yet"))
    })
}

/// A deployment, the start of its workload's event time (two minutes ago), and the
/// workload — 24 users, `events` events each, late ones included — with its profile
/// and stats tables produced.
fn with_tables(test: &str, events: usize) -> (Deployment, u64, Workload, BaseProducer) {
    let d = deployment(test);
    let start = past_start(120);
    let workload = Workload::new(&d.name, start, 24, events).with_late_events(PARTITIONS);
    let producer = deployment::producer();
    workload.produce_tables(&d, &producer);
    (d, start, workload, producer)
}

fn kill_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Cuts the workload's events into `slices`, each followed by a sentinel per partition
/// just after its last event, so that every partition's watermark — every worker's —
/// gets past the slice (a checkpoint is requested at worker 0's watermark and taken
/// once all reach it); the ranges of the slices, sentinels included, in production order.
fn sliced(workload: &mut Workload, slices: usize) -> Vec<std::ops::Range<usize>> {
    let events = std::mem::take(&mut workload.events);
    let total = events.len();
    let mut ranges = Vec::new();
    for i in 0..slices {
        let slice = &events[total * i / slices..total * (i + 1) / slices];
        let from = workload.events.len();
        workload.events.extend_from_slice(slice);
        let last = slice.iter().map(|e| e.time).max().unwrap_or(workload.start);
        for p in 0..PARTITIONS {
            let user = format!("sentinel-{p}-{}", workload.start);
            let time = last + 1_100;
            let line = format!("{{\"id\":\"{user}-{i}\",\"user\":\"{user}\",\"type\":\"app_closed\",\"time\":{time}}}");
            workload.events.push(Produced {
                user,
                line,
                time,
                partition: Some(p),
            });
        }
        ranges.push(from..workload.events.len());
    }
    ranges
}

/// The number of records a run's summary says it read.
fn records_read(log: &str) -> usize {
    log.lines()
        .filter_map(|line| line.split("done: ").nth(1)?.split(" records read").next()?.trim().parse().ok())
        .next_back()
        .unwrap_or(usize::MAX)
}

/// The side records the workers read before they were ready, summed (all of them, when
/// a log says nothing).
fn side_records_read(log: &str) -> usize {
    let counts: Option<Vec<usize>> = log
        .lines()
        .filter(|line| line.contains(" side records"))
        .map(|line| line.split(" side records").next()?.rsplit(' ').next()?.parse().ok())
        .collect();
    counts.filter(|c| !c.is_empty()).map_or(usize::MAX, |c| c.iter().sum())
}

/// Checks segment-changes and the profile store against the oracle.
fn check_against_the_oracle(d: &Deployment, workload: &Workload, until: u64, logs: &str) {
    let expected = workload.expected(until);
    assert!(
        expected.len() > 40,
        "the workload must exercise the rules: {} changes",
        expected.len()
    );
    let got = changes_through(d, until);
    let missing: Vec<_> = expected.iter().filter(|c| !got.contains(c)).collect();
    let extra: Vec<_> = got.iter().filter(|c| !expected.contains(c)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "segment-changes differ from the oracle: missing {missing:?}, extra {extra:?}\n{logs}"
    );
    support::poll_until(Duration::from_secs(30), Duration::from_millis(200), || {
        let stored = deployment::redis_segments(&workload.users);
        (stored == final_memberships(&expected))
            .then_some(())
            .ok_or_else(|| "the profile store differs from the oracle".to_string())
    });
}

/// The number in the log's restore line between `after` and `before`.
fn restore_count(log: &str, after: &str, before: &str) -> Option<usize> {
    let line = log.lines().find(|l| l.contains("restoring the checkpoint as of"))?;
    line.split(after).nth(1)?.split(before).next()?.trim().parse().ok()
}

fn restored_parts(log: &str) -> Option<usize> {
    restore_count(log, "(", " workers' parts")
}

/// How many parts the restore read, each worker's deltas included.
fn restored_with_deltas(log: &str) -> Option<usize> {
    restore_count(log, "parts, ", " with the deltas")
}

#[test]
fn kill_9_ten_times_under_load_restores_checkpoints_and_loses_nothing() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let (d, start, mut workload, producer) = with_tables("ckpt-kill9", 28);
    // Fifteen slices (of about 2.5 s of event time) over ten runs: a run killed at a
    // complete checkpoint gets two.
    let mut slices = sliced(&mut workload, 15).into_iter();
    let (mut last, mut under_way, mut from_deltas) = (0, 0, 0);
    for i in 0..10 {
        workload.produce_events(&d, &producer, slices.next().unwrap_or_default());
        let log = format!("run-{i}");
        let mut child = [d.classify(&["--workers", "2"], &log)];
        // Killed the moment a new checkpoint is seen complete — the second of the run, a
        // delta on its first (full, as a run's first is), the next slice's events sent
        // in between to move event time on — or, every other time, the moment one is
        // seen under way (the restart then takes the one before).
        if i % 2 == 0 {
            last = newer_checkpoint(&d, last, &mut child, &log);
            workload.produce_events(&d, &producer, slices.next().unwrap_or_default());
            last = newer_checkpoint(&d, last, &mut child, &log);
        } else {
            let (tick, unfinished) = checkpoint_under_way(&d, last, &mut child, &log);
            under_way += usize::from(unfinished);
            last = if unfinished { last } else { tick };
        }
        kill_all(&mut child);
        if i > 0 {
            let log = d.log(&log);
            assert!(restored_parts(&log).is_some(), "run {i} did not restore a checkpoint:\n{log}");
            from_deltas += usize::from(restored_with_deltas(&log) > restored_parts(&log));
        }
    }
    assert!(from_deltas > 0, "no restart read a delta");
    eprintln!("{from_deltas} of 9 restarts read deltas");
    let until = start + 60_000;
    workload.produce_sentinels(&d, &producer, PARTITIONS, until + 2_000);
    run_to(&d, &["--workers", "2"], until, "final");
    let final_log = d.log("final");
    assert_eq!(restored_parts(&final_log), Some(2), "the last run restores too:\n{final_log}");
    assert!(
        records_read(&final_log) < workload.events.len(),
        "the last restart read {} records: it must replay from the checkpoint's offsets, not all {}",
        records_read(&final_log),
        workload.events.len()
    );
    let tables = workload.profiles.len() + workload.stats.len();
    assert!(
        side_records_read(&final_log) < tables,
        "the last restart read {} side records: the tables must resume from the checkpoint's offsets, not from all {tables}",
        side_records_read(&final_log)
    );
    let logs: String = (0..10).map(|i| d.log(&format!("run-{i}"))).chain([final_log]).collect();
    eprintln!("{under_way} of 5 kills came while a checkpoint was under way");
    let evicted = logs
        .lines()
        .filter_map(|line| line.split("evicted=").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .max();
    assert!(evicted > Some(0), "no run evicted a user: the checkpoints held no dormant record");
    check_against_the_oracle(&d, &workload, until, &logs);
    // The newest 2, and the checkpoints (one full every third) their deltas build on.
    assert!(complete(&d).len() <= 4, "retention keeps 2 and what they read: {:?}", complete(&d));
}

#[test]
fn rescaling_two_processes_to_three_to_one_restores_every_key_group() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let (d, start, mut workload, producer) = with_tables("ckpt-rescale", 16);
    let slices = sliced(&mut workload, 3);
    let mut last = 0;
    let mut logs = String::new();
    for (phase, processes) in [2usize, 3].into_iter().enumerate() {
        workload.produce_events(&d, &producer, slices[phase].clone());
        let log = format!("phase-{phase}");
        let mut children = d.classify_cluster(processes, &[], &log);
        last = newer_checkpoint(&d, last, &mut children, &format!("{log}-0"));
        kill_all(&mut children);
        let first = d.log(&format!("{log}-0"));
        if phase == 1 {
            assert_eq!(
                restored_parts(&first),
                Some(2),
                "3 processes restore the 2 processes' parts:\n{first}"
            );
        }
        logs.extend((0..processes).map(|p| d.log(&format!("{log}-{p}"))));
    }
    workload.produce_events(&d, &producer, slices[2].clone());
    let until = start + 60_000;
    workload.produce_sentinels(&d, &producer, PARTITIONS, until + 2_000);
    run_to(&d, &[], until, "final");
    let final_log = d.log("final");
    assert_eq!(
        restored_parts(&final_log),
        Some(3),
        "1 process restores the 3 processes' parts:\n{final_log}"
    );
    logs.push_str(&final_log);
    check_against_the_oracle(&d, &workload, until, &logs);
}

/// The topic's retention (a minute; tansu applies it when it starts, and every 10
/// minutes) deletes every record of the first half of the events once a checkpoint
/// covers them; the restart restores that checkpoint and replays only what the topic
/// still holds, and the change stream equals the oracle's. (The dedup horizon is a day:
/// a restart rebuilding its state from the topic would miss the deleted half.) The
/// first half is stamped 45 s old, so a maintenance pass of the broker's own schedule
/// cannot delete it before the first run has read it; the broker restarts once it is
/// older than the retention.
#[test]
fn a_restart_after_retention_deleted_what_the_checkpoint_covers_is_exact() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let classifier = CLASSIFIER.replace("idle_timeout = \"1s\"", "idle_timeout = \"1h\"");
    let retention = [("cleanup.policy", "delete"), ("retention.ms", "60000")];
    let d = Deployment::with_events_topic(
        "ckpt-retention",
        PARTITIONS,
        &format!("interval = \"1s\"\n{classifier}"),
        &retention,
    );
    let start = past_start(180);
    let mut workload = Workload::new(&d.name, start, 24, 16).with_late_events(PARTITIONS);
    let producer = deployment::producer();
    workload.produce_tables(&d, &producer);
    let slices = sliced(&mut workload, 2);
    let stamped = now_ms() - 45_000;
    workload.produce_events_stamped(&d, &producer, slices[0].clone(), Some(stamped));
    // A bridge per partition after the first half, stamped now so that retention keeps
    // it: the watermark passes the first half, and a checkpoint covers all of it.
    let covered = workload.events[slices[0].clone()].iter().map(|e| e.time).max().unwrap_or(start);
    let bridge_time = covered + 2_000;
    let mut bridges = Vec::new();
    for p in 0..PARTITIONS {
        let user = format!("bridge-{p}-{}", workload.start);
        let line = format!("{{\"id\":\"{user}\",\"user\":\"{user}\",\"type\":\"app_closed\",\"time\":{bridge_time}}}");
        deployment::send_to(&producer, &d.events, p, &user, &line, now_ms());
        bridges.push(Produced {
            user,
            line,
            time: bridge_time,
            partition: Some(p),
        });
    }
    // The oracle sees them where they were produced: after the first half, before the
    // second (whose first events are then late).
    workload.events.splice(slices[0].end..slices[0].end, bridges);
    let second_half = slices[1].start + PARTITIONS as usize..slices[1].end + PARTITIONS as usize;
    deployment::flush(&producer);
    let mut child = [d.classify(&["--workers", "2"], "first")];
    let mut last = 0;
    while last <= covered {
        last = newer_checkpoint(&d, last, &mut child, "first");
    }
    kill_all(&mut child);
    let before = deployment::read_all(&d.events).len();
    support::poll_until(Duration::from_secs(60), Duration::from_millis(200), || {
        (now_ms() > stamped + 61_000)
            .then_some(())
            .ok_or_else(|| "the first half is not past the retention yet".to_string())
    });
    deployment::services(&["stop", "tansu"]);
    deployment::services(&["start", "tansu"]);
    let kept = support::poll_until(Duration::from_secs(60), Duration::from_millis(200), || {
        let kept = deployment::read_all(&d.events);
        let left = kept.len();
        (left == PARTITIONS as usize)
            .then_some(kept)
            .ok_or_else(|| format!("retention has not deleted the first half yet: {left} of {before} records left"))
    });
    assert!(
        kept.iter().all(|(key, ..)| key.starts_with("bridge-")),
        "only the bridges are left: {kept:?}"
    );
    workload.produce_events(&d, &producer, second_half);
    let until = start + 60_000;
    workload.produce_sentinels(&d, &producer, PARTITIONS, until + 2_000);
    run_to(&d, &["--workers", "2"], until, "final");
    let final_log = d.log("final");
    assert_eq!(
        restored_parts(&final_log),
        Some(2),
        "the restart restores the checkpoint:\n{final_log}"
    );
    let logs = format!("{}{final_log}", d.log("first"));
    check_against_the_oracle(&d, &workload, until, &logs);
}

/// Waits until the log of `log` says `what`.
fn wait_for_log(d: &Deployment, log: &str, what: &str) {
    support::poll_until(Duration::from_secs(90), Duration::from_millis(50), || {
        d.log(log)
            .contains(what)
            .then_some(())
            .ok_or_else(|| format!("{log} has not said {what:?} yet:\n{}", d.log(log)))
    });
}

/// A warm standby follows the primary's checkpoints (decoding each newer one) while the
/// primary holds the process slot, takes over once the killed primary's lease lapses,
/// restores what it decoded and runs on: the change stream equals the oracle's.
#[test]
fn a_warm_standby_takes_over_from_a_killed_primary() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let (d, start, mut workload, producer) = with_tables("ckpt-standby", 28);
    let mut slices = sliced(&mut workload, 3).into_iter();
    workload.produce_events(&d, &producer, slices.next().unwrap_or_default());
    let mut primary = [d.classify(&["--workers", "2"], "primary")];
    let first = newer_checkpoint(&d, 0, &mut primary, "primary");
    let until = start + 60_000;
    let until_arg = until.to_string();
    let mut standby = d.classify(&["--workers", "2", "--standby", "--until", &until_arg], "standby");
    wait_for_log(&d, "standby", "is held by");
    wait_for_log(&d, "standby", "this one is decoded and ready");
    // The primary goes on: the standby follows its newer checkpoint too.
    workload.produce_events(&d, &producer, slices.next().unwrap_or_default());
    let second = newer_checkpoint(&d, first, &mut primary, "primary");
    wait_for_log(&d, "standby", &format!("as_of={second}"));
    kill_all(&mut primary);
    workload.produce_events(&d, &producer, slices.next().unwrap_or_default());
    workload.produce_sentinels(&d, &producer, PARTITIONS, until + 2_000);
    let status = deployment::wait_for(&mut standby, Duration::from_secs(120), "the standby");
    let log = d.log("standby");
    assert!(status.success(), "the standby failed:\n{log}");
    assert!(log.contains("took over process slot 0"), "{log}");
    let followed_last = log
        .lines()
        .filter(|l| l.contains("decoded and ready"))
        .filter_map(|l| l.split("as_of=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .next_back();
    assert!(followed_last >= Some(second), "it followed the primary's last checkpoints:\n{log}");
    assert!(
        followed_last.is_some_and(|at| log.contains(&format!("restoring the checkpoint as of {at}"))),
        "it restores the checkpoint it followed last:\n{log}"
    );
    let logs = format!("{}{log}", d.log("primary"));
    check_against_the_oracle(&d, &workload, until, &logs);
}
