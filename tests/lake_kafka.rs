//! `segstream lake write` against the real broker (tansu): under load, killed with
//! SIGKILL five times, the raw table ends holding exactly the records of the events
//! topic — every offset of every partition once, none lost and none twice.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::deployment::{self, Deployment, SERVICES};
use support::process::Running;
use support::scenario::CLASSIFIER;
use support::{poll_until, scratch_path};

/// Events produced per burst, while the writer is killed and restarted (the load runs
/// until the fifth kill, so every kill lands under load). Each burst waits for the
/// broker's acknowledgements before the next, so the broker paces the load.
const BURST: usize = 1_000;
const PARTITIONS: i32 = 3;

fn writer(d: &Deployment, table: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "lake",
        "write",
        "--config",
        d.config_arg(),
        "--table",
        table,
        "--commit-every",
        "100ms",
    ];
    args.extend_from_slice(extra);
    Running::start(env!("CARGO_BIN_EXE_segstream"), &args)
}

#[test]
fn the_raw_table_holds_every_record_of_the_topic_once_across_five_kills() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("lake", PARTITIONS, CLASSIFIER);
    let table = scratch_path("lake", &d.name);
    let table = table.display().to_string();
    let topic = d.events.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let loading = Arc::clone(&stop);
    let load = std::thread::spawn(move || {
        let producer = deployment::producer();
        let start = segstream_time::wall_clock_ms();
        let mut produced = 0;
        while !loading.load(Ordering::Relaxed) {
            for i in produced..produced + BURST {
                let user = format!("u{}", i % 500);
                let line = format!(r#"{{"id":"e{i}","user":"{user}","type":"ad_watched","time":{}}}"#, start + i as u64);
                deployment::send(&producer, &topic, &user, Some(&line), start + i as u64);
            }
            produced += BURST;
            deployment::flush(&producer);
        }
        produced
    });
    for kill in 0..5 {
        let run = writer(&d, &table, &[]);
        // Killed after its third commit, in the middle of reading or writing the fourth.
        poll_until(Duration::from_secs(60), Duration::from_millis(20), || {
            let commits = run.lines().iter().filter(|l| l.contains("lake: committed")).count();
            (commits >= 3)
                .then_some(())
                .ok_or_else(|| format!("{commits} commits:\n{}", run.lines().join("\n")))
        });
        drop(run); // SIGKILL, wherever it is
        println!("killed the writer ({} of 5)", kill + 1);
    }
    stop.store(true, Ordering::Relaxed);
    let produced = load.join().unwrap_or_else(|_| panic!("the producer failed"));
    let last = writer(&d, &table, &["--once"]);
    last.wait_for_line("lake: caught up", Duration::from_secs(120));

    let runtime = segstream_lake::runtime().unwrap_or_else(|e| panic!("{e}"));
    let location = segstream_lake::location::TableLocation::parse(&table).unwrap_or_else(|e| panic!("{e}"));
    let raw = runtime
        .block_on(segstream_lake::raw_table::RawTable::open_or_create(&location, &d.events))
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = runtime.block_on(raw.coordinates()).unwrap_or_else(|e| panic!("{e}"));
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for row in &rows {
        *seen.entry(*row).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(row, _)| *row).collect();
    assert!(twice.is_empty(), "written twice: {:?}", &twice[..twice.len().min(10)]);
    let mut expected = deployment::coordinates(&d.events);
    expected.sort_unstable();
    assert_eq!(expected.len(), produced, "the topic holds every produced event");
    println!("{produced} events produced under five kills");
    let written: Vec<(i32, i64)> = seen.keys().copied().collect();
    assert_eq!(written, expected, "the table holds exactly the topic's records");
}

/// `segstream stats --config`: the changed users' stats go to the deployment's stats
/// topic keyed by user, each a row of the schema's `[stats]`; a rerun publishes nobody,
/// and `--republish-all` everybody again.
#[test]
fn the_stats_job_publishes_changed_users_to_the_stats_topic() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("stats", 1, CLASSIFIER);
    let producer = deployment::producer();
    let start = segstream_time::wall_clock_ms();
    let users: std::collections::BTreeSet<String> = (0..40).map(|u| format!("u{u}")).collect();
    for i in 0..400u64 {
        let user = format!("u{}", i % 40);
        let (kind, properties) = match i % 4 {
            0 => ("session_started", "{}".to_string()),
            1 => ("purchase", format!(r#"{{"amount": {}.5, "item": "gems_{i}"}}"#, i % 7)),
            _ => ("ad_watched", format!(r#"{{"ad_id": "ad_{}"}}"#, i % 3)),
        };
        let line = format!(
            r#"{{"id":"e{i}","user":"{user}","type":"{kind}","time":{},"properties":{properties}}}"#,
            start + i
        );
        deployment::send(&producer, &d.events, &user, Some(&line), start + i);
    }
    deployment::flush(&producer);
    let (raw, curated, tiles) = (
        scratch_path("lake", &format!("{}-raw", d.name)).display().to_string(),
        scratch_path("lake", &format!("{}-curated", d.name)).display().to_string(),
        scratch_path("lake", &format!("{}-tiles", d.name)).display().to_string(),
    );
    writer(&d, &raw, &["--once"]).wait_for_line("lake: caught up", Duration::from_secs(120));
    let topic = d.events.clone();
    support::segstream_ok(&["lake", "compact", "--raw", &raw, "--curated", &curated, "--topic", &topic]);
    let stats = |extra: &[&str]| {
        let mut args = vec![
            "stats",
            "--curated",
            &curated,
            "--topic",
            &topic,
            "--tiles",
            &tiles,
            "--config",
            d.config_arg(),
        ];
        args.extend_from_slice(extra);
        support::segstream_ok(&args)
    };
    let schema = segstream_rules::files::load_schema(std::path::Path::new("configs/schema.toml")).unwrap_or_else(|e| panic!("{e:?}"));
    let published = || -> Vec<String> {
        deployment::read_all(&d.stats)
            .into_iter()
            .map(|(user, payload, _)| {
                let row = segstream_model::upsert::decode_row(payload.as_deref(), &schema.stats).unwrap_or_else(|e| panic!("{user}: {e}"));
                assert!(row.is_some(), "{user}: a row, not a deletion");
                user
            })
            .collect()
    };
    let out = stats(&[]);
    assert!(out.contains("40 published"), "{out}");
    let first = published();
    assert_eq!(first.iter().cloned().collect::<std::collections::BTreeSet<_>>(), users);
    assert_eq!(first.len(), users.len(), "one upsert per user");
    let out = stats(&[]);
    assert!(out.contains(", 0 published"), "{out}");
    assert_eq!(published().len(), users.len(), "a rerun publishes nobody");
    let out = stats(&["--republish-all"]);
    assert!(out.contains("40 published"), "{out}");
    assert_eq!(published().len(), 2 * users.len(), "--republish-all publishes everybody again");
}
