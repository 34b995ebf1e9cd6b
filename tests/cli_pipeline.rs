//! `segstream generate`, `run` and `demo`, run as a user runs them.

mod support;

use std::path::{Path, PathBuf};

use std::time::Duration;

use support::process::Running;
use support::{free_port, http, late_count, poll_until, scratch_path, segstream, try_post};

fn scratch(name: &str) -> PathBuf {
    scratch_path("cli_pipeline", name)
}

/// A lake directory of this test's own, empty.
fn fresh_lake(name: &str) -> String {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir.display().to_string()
}

/// The location of `table` in the lake at `lake`.
fn table_at(lake: &str, table: &str) -> segstream_lake::location::TableLocation {
    let path = Path::new(lake).join(table).display().to_string();
    segstream_lake::location::TableLocation::parse(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// `(partition, offset)` of every row of the raw table of the lake at `lake`.
fn lake_coordinates(lake: &str) -> Vec<(i32, i64)> {
    let runtime = segstream_lake::runtime().unwrap_or_else(|e| panic!("{e}"));
    let table = runtime
        .block_on(segstream_lake::raw_table::RawTable::open_existing(&table_at(lake, "raw"), "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(table.coordinates()).unwrap_or_else(|e| panic!("{e}"))
}

/// `(user, event id, payload)` of every row of the curated table at `location`, sorted.
fn curated_events(location: &segstream_lake::location::TableLocation) -> Vec<(String, String, Vec<u8>)> {
    let runtime = segstream_lake::runtime().unwrap_or_else(|e| panic!("{e}"));
    let table = runtime
        .block_on(segstream_lake::curated::CuratedTable::open_or_create(location, "events"))
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = runtime.block_on(table.rows()).unwrap_or_else(|e| panic!("{e}"));
    let mut events: Vec<_> = rows
        .into_iter()
        .map(|r| (r.user, r.event_id, r.payload.unwrap_or_default()))
        .collect();
    events.sort();
    events
}

/// `segstream demo` on generated traffic with two workers, no partners and no
/// collector, its lake at `lake`, changes at `changes` and checkpoints at
/// `checkpoints`, then `extra`.
fn generated_demo<'a>(lake: &'a str, (changes, checkpoints): (&'a str, &'a str), extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "demo",
        "--checkpoints",
        checkpoints,
        "--lake",
        lake,
        "--out",
        changes,
        "--workers",
        "2",
        "--partners",
        "off",
        "--collector",
        "off",
    ];
    args.extend_from_slice(extra);
    args
}

/// Starts `segstream` with `args`, capturing its output.
fn spawn_segstream(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run segstream: {e}"))
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The first place two change lists differ, for a short failure message.
fn first_difference(a: &[(String, String, String, String)], b: &[(String, String, String, String)]) -> Option<String> {
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    (a.len() != b.len() || at < a.len()).then(|| {
        format!(
            "lengths {} and {}; first difference at {at}: {:?} vs {:?}",
            a.len(),
            b.len(),
            a.get(at),
            b.get(at)
        )
    })
}

#[test]
fn generate_then_run_is_deterministic_and_independent_of_workers_late_events_included() {
    // A late event applies at its partition's watermark, and the file's partitions do
    // not depend on --workers: the change stream is the same, line for line, for any
    // worker count (only the processing time each line carries differs).
    let events = scratch("events.ndjson");
    let out = segstream(&[
        "generate",
        "--events",
        "20000",
        "--users",
        "500",
        "--late-rate",
        "0.05",
        "--out",
        &events.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut results = Vec::new();
    for workers in ["1", "2", "4"] {
        let changes = scratch(&format!("changes-{workers}.ndjson"));
        let out = segstream(&[
            "run",
            "--input",
            &events.display().to_string(),
            "--workers",
            workers,
            "--out",
            &changes.display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(stdout.contains("records read") && stdout.contains("duplicates dropped"), "{stdout}");
        let late = late_count(&stdout);
        assert!(late > 100, "the input holds late events: {stdout}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("rejected: "),
            "rejections are reported with their line"
        );
        let changes: Vec<(String, String, String, String)> = lines(&changes)
            .iter()
            .map(|v| {
                (
                    v["time"].to_string(),
                    v["user"].to_string(),
                    v["segment"].to_string(),
                    v["change"].to_string(),
                )
            })
            .collect();
        assert!(changes.len() > 1_000, "only {} changes", changes.len());
        results.push(changes);
    }
    assert_eq!(first_difference(&results[0], &results[1]), None);
    assert_eq!(first_difference(&results[0], &results[2]), None);
}

#[test]
fn run_reports_a_missing_file() {
    let out = segstream(&["run", "--input", "no/such/events.ndjson"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read no/such/events.ndjson"));
}

#[test]
fn the_demo_runs_shows_progress_serves_metrics_and_writes_changes() {
    let (changes, lake) = (scratch("demo.ndjson"), fresh_lake("demo-lake"));
    let changes = changes.display().to_string();
    let checkpoints = scratch("demo-checkpoints");
    let _ = std::fs::remove_dir_all(&checkpoints);
    let checkpoints = checkpoints.display().to_string();
    let args = generated_demo(
        &lake,
        (&changes, &checkpoints),
        &[
            "--checkpoint-every",
            "1s",
            "--console",
            "off",
            "--duration",
            "8s",
            "--users",
            "2000",
            "--rate",
            "4000",
            "--metrics-addr",
            "127.0.0.1:0",
            "--lake-every",
            "1s",
        ],
    );
    let demo = Running::start(env!("CARGO_BIN_EXE_segstream"), &args);
    let line = demo.wait_for_line("metrics: http://", Duration::from_secs(60));
    let port: u16 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://127.0.0.1:"))
        .and_then(|tail| tail.trim_end_matches("/metrics").parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let scrape = poll_until(Duration::from_secs(30), Duration::from_millis(200), || {
        let (head, body) = http(port, "GET", "/metrics", "", &[], None).map_err(|e| e.to_string())?;
        let read: u64 = body
            .lines()
            .find_map(|l| l.strip_prefix("segstream_records_read_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match (head.starts_with("HTTP/1.1 200"), read > 1_000) {
            (true, true) => Ok(body),
            _ => Err(format!("records read so far: {read}\n{head}")),
        }
    });
    assert!(scrape.contains("# TYPE segstream_records_read_total counter"), "{scrape}");
    // The stats job runs after each compaction and gives the classifier the users whose
    // stats changed.
    let stats_run = poll_until(Duration::from_secs(60), Duration::from_millis(100), || {
        let lines = demo.lines();
        lines
            .iter()
            .find(|l| l.contains("stats: tiles brought to curated") && !l.contains(" 0 published"))
            .cloned()
            .ok_or_else(|| format!("no stats run published anyone:\n{}", lines.join("\n")))
    });
    let upserted = demo.wait_for_line("users' stats from the lake upserted into the classifier", Duration::from_secs(60));
    let upserted: u64 = upserted
        .strip_prefix("stats: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(upserted > 0, "{stats_run}");
    let committed = demo.wait_for_line("records committed to", Duration::from_secs(60));
    // Checkpoints of the classifier's state, as `segstream classify` takes them.
    demo.wait_for_line("checkpoints: committed", Duration::from_secs(60));
    let manifests = std::fs::read_dir(&checkpoints)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().join("manifest.json").exists())
                .count()
        })
        .unwrap_or(0);
    assert!(manifests >= 1, "no complete checkpoint in {checkpoints}");
    let stdout = demo.lines().join("\n");
    assert!(
        stdout
            .lines()
            .filter(|l| l.contains(" t=") && l.contains("events/s=") && l.contains("watermark lag="))
            .count()
            >= 3,
        "{stdout}"
    );
    let done = demo.wait_for_line("done: ", Duration::from_secs(1));
    let read: usize = done
        .strip_prefix("done: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{done}"));
    // Every line the classifier read is in the lake, once: the demo's generator has
    // one partition per worker, numbered on from offset 0 in a new table.
    let mut by_partition: std::collections::BTreeMap<i32, Vec<i64>> = Default::default();
    for (partition, offset) in lake_coordinates(&lake) {
        by_partition.entry(partition).or_default().push(offset);
    }
    assert_eq!(by_partition.values().map(Vec::len).sum::<usize>(), read, "{committed}\n{stdout}");
    for (partition, mut offsets) in by_partition {
        assert!(partition < 2, "one generator partition per worker, not {partition}");
        offsets.sort_unstable();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>(), "partition {partition}");
    }
    // The curated table holds each event once; a compaction of the raw table from
    // scratch, in one run, gives the same rows as the demo's runs did.
    let curated = curated_events(&table_at(&lake, "curated"));
    assert!(!curated.is_empty() && curated.len() <= read, "{} curated of {read}", curated.len());
    let keys: std::collections::BTreeSet<_> = curated.iter().map(|(u, e, _)| (u, e)).collect();
    assert_eq!(keys.len(), curated.len(), "no event twice");
    let again = fresh_lake("demo-lake-curated-again");
    let raw = Path::new(&lake).join("raw").display().to_string();
    let out = segstream(&["lake", "compact", "--raw", &raw, "--curated", &again]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("duplicates dropped"), "{out:?}");
    assert_eq!(curated_events(&table_at(&again, "")), curated);
    let out = segstream(&["lake", "compact", "--raw", &raw, "--curated", &again]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "idempotent: {out:?}"
    );
    let out = segstream(&["lake", "compact", "--raw", &fresh_lake("no-raw-table"), "--curated", &again]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no table there"), "{out:?}");
    // The stats job over the demo's curated table: one upsert per user, each valid for
    // the schema's [stats]; a second run as of the same day publishes nobody.
    let tiles = fresh_lake("demo-lake-tiles");
    let upserts = Path::new(&fresh_lake("demo-lake-stats")).with_extension("ndjson");
    let _ = std::fs::remove_file(&upserts);
    let curated_at = Path::new(&lake).join("curated").display().to_string();
    // As of a day after every event (the generator skews some clocks into the future).
    let today = "2999-01-01".to_string();
    let stats = |extra: &[&str]| {
        let out_path = upserts.display().to_string();
        let mut args = vec![
            "stats",
            "--curated",
            &curated_at,
            "--tiles",
            &tiles,
            "--out",
            &out_path,
            "--as-of",
            &today,
        ];
        args.extend_from_slice(extra);
        segstream(&args)
    };
    let out = stats(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = segstream_rules::files::load_schema(Path::new("configs/schema.toml")).unwrap_or_else(|e| panic!("{e:?}"));
    let text = std::fs::read_to_string(&upserts).unwrap_or_default();
    let mut published = std::collections::BTreeSet::new();
    for line in text.lines() {
        let (_, user, row) =
            segstream_model::upsert::decode_upsert_line(line, "stats", &schema.stats).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(row.is_some());
        assert!(published.insert(user), "one upsert per user: {line}");
    }
    let users: std::collections::BTreeSet<&String> = curated.iter().map(|(u, _, _)| u).collect();
    assert_eq!(published.iter().collect::<std::collections::BTreeSet<_>>(), users);
    let out = stats(&[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(", 0 published"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&upserts).unwrap_or_default(), text);
    let out = stats(&["--memory-limit", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--memory-limit"), "{out:?}");
    let written = lines(Path::new(&changes));
    assert!(written.len() > 100, "only {} changes", written.len());
    assert!(written.iter().all(|v| v["change"] == "enter" || v["change"] == "exit"));
}

#[test]
fn classifier_flags_are_checked() {
    let out = segstream(&["run", "--input", "configs/views/sample-view.json", "--tick", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tick must be longer than zero"));
    let out = segstream(&["run", "--input", "configs/views/sample-view.json", "--dedup-horizon", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dedup-horizon: invalid duration \"soon\""));
}

#[test]
fn the_demo_applies_rule_edits_live_and_refuses_invalid_ones() {
    let rules = scratch("live-rules");
    let _ = std::fs::remove_dir_all(&rules); // a fresh directory: an earlier run left its edits
    if let Err(e) = std::fs::create_dir_all(&rules) {
        panic!("{e}");
    }
    let base = std::fs::read_to_string("configs/rules/ads.toml").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(rules.join("ads.toml"), base).unwrap_or_else(|e| panic!("{e}"));
    let (changes, rules_dir) = (scratch("live.ndjson"), rules.display().to_string());
    let changes_path = changes.display().to_string();
    let args = generated_demo(
        "off",
        (&changes_path, "off"),
        &[
            // An upper bound: the test stops the demo once it has seen both edits judged.
            "--duration",
            "120s",
            "--users",
            "1000",
            "--rate",
            "2000",
            "--watch-rules",
            "--rules",
            &rules_dir,
        ],
    );
    let demo = Running::start(env!("CARGO_BIN_EXE_segstream"), &args);
    // Edits are made once the demo is running and judged (polled, not slept on).
    demo.wait_for_line("events/s=", Duration::from_secs(120));
    let added = "[[segment]]\nid = \"openers_live\"\nname = \"Opened the app today\"\nwhen = 'count(\"app_opened\", \"1d\") >= 1'\n";
    std::fs::write(rules.join("live.toml"), added).unwrap_or_else(|e| panic!("{e}"));
    demo.wait_for_line("rules: applied the edited set", Duration::from_secs(60));
    let entered_live = || {
        let text = std::fs::read_to_string(&changes).unwrap_or_default();
        let entered = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["segment"] == "openers_live" && v["change"] == "enter")
            .count();
        if entered > 10 {
            Ok(entered)
        } else {
            Err(format!("only {entered} users entered the segment added live"))
        }
    };
    poll_until(Duration::from_secs(60), Duration::from_millis(200), entered_live);
    std::fs::write(
        rules.join("broken.toml"),
        "[[segment]]\nid = \"broken\"\nname = \"B\"\nwhen = 'count(\"nope\", \"1d\") >= 1'\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    demo.wait_for_line("were not applied", Duration::from_secs(60));
    assert!(
        demo.lines().iter().any(|l| l.contains("unknown event type \"nope\"")),
        "{}",
        demo.lines().join("\n")
    );
    drop(demo);
}

#[test]
fn run_takes_profiles_and_stats_and_reports_bad_lines() {
    let events = scratch("profiled-events.ndjson");
    let out = segstream(&[
        "generate",
        "--events",
        "5000",
        "--users",
        "200",
        "--out",
        &events.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let profiles = scratch("profiles.ndjson");
    let lines_text: String = (0..200)
        .map(|u| {
            format!("{{\"user\": \"u{u}\", \"profile\": {{\"birthDate\": \"1990-01-01\", \"gender\": \"female\", \"country\": \"US\"}}}}\n")
        })
        .collect();
    std::fs::write(&profiles, lines_text).unwrap_or_else(|e| panic!("{e}"));
    let stats = scratch("stats.ndjson");
    std::fs::write(
        &stats,
        "{\"user\": \"u1\", \"time\": \"2026-11-26T10:00:00Z\", \"stats\": {\"isRegularPlayer\": true}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let count = |changes: &Path, segment: &str| {
        lines(changes)
            .iter()
            .filter(|v| v["segment"] == segment && v["change"] == "enter")
            .count()
    };
    let without = scratch("without-profiles.ndjson");
    let out = segstream(&[
        "run",
        "--input",
        &events.display().to_string(),
        "--out",
        &without.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let with = scratch("with-profiles.ndjson");
    let out = segstream(
        &[
            "run",
            "--input",
            &events.display().to_string(),
            "--profiles",
            &profiles.display().to_string(),
        ]
        .into_iter()
        .chain(["--stats", &stats.display().to_string(), "--out", &with.display().to_string()])
        .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&without, "adults_18_plus"), 0);
    // Every user with events is an adult by its profile (the day's active users only send).
    let text = std::fs::read_to_string(&events).unwrap_or_else(|e| panic!("{e}"));
    let active: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["user"].as_str().map(String::from))
        .collect();
    assert!(active.len() >= 40, "{} users sent events", active.len());
    assert!(
        count(&with, "adults_18_plus") >= active.len() * 3 / 4,
        "{} adults of {} users with events",
        count(&with, "adults_18_plus"),
        active.len()
    );
    let bad = scratch("bad-profiles.ndjson");
    std::fs::write(
        &bad,
        "{\"user\": \"u1\", \"profile\": {\"birthDate\": \"1990-01-01\"}}\n{\"user\": \"u2\", \"profile\": {\"shoeSize\": 42}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = segstream(&[
        "run",
        "--input",
        &events.display().to_string(),
        "--profiles",
        &bad.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad-profiles.ndjson:2: profile: unknown field \"shoeSize\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_demo_serves_the_tracking_api_and_classifies_what_is_posted() {
    let (changes, lake) = (scratch("demo-posted.ndjson"), fresh_lake("demo-posted-lake"));
    let port = free_port();
    let child = spawn_segstream(&[
        "demo",
        "--checkpoints",
        "off",
        "--lake",
        &lake,
        "--partners",
        "off",
        "--duration",
        "10s",
        "--users",
        "100",
        "--rate",
        "0",
        "--workers",
        "2",
        "--collector",
        &format!("127.0.0.1:{port}"),
        "--console",
        "off",
        "--write-key",
        "wk",
        "--out",
        &changes.display().to_string(),
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let now = segstream_time::format_timestamp(segstream_time::wall_clock_ms() as i64);
    let item = |i: usize, event: &str| {
        format!(
            r#"{{"type":"track","messageId":"posted-{i}","userId":"posted-user","event":"{event}","properties":{{"ad_id":"A{i}","network":"n1","placement":"p"}},"originalTimestamp":"{now}"}}"#
        )
    };
    let body = format!(
        r#"{{"batch":[{},{},{}],"sentAt":"{now}"}}"#,
        item(1, "ad_watched"),
        item(2, "ad_watched"),
        item(3, "no_such_event")
    );
    let answer = loop {
        match try_post(port, "/v1/batch", &body) {
            Ok(answer) => break answer,
            Err(e) if std::time::Instant::now() > deadline => panic!("the demo's collector never answered: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    assert!(answer.0.starts_with("HTTP/1.1 200"), "{answer:?}");
    let reply: serde_json::Value = serde_json::from_str(&answer.1).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["messageId"], "posted-3");
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("2 records read"), "only the posted events are read: {stdout}");
    let mut rows = lake_coordinates(&lake);
    rows.sort_unstable();
    assert_eq!(rows.len(), 2, "the two accepted events are in the lake: {rows:?}");
    assert!(
        rows.iter().all(|(p, _)| *p >= 1 << 20),
        "numbered after the generator's partitions: {rows:?}"
    );
    let posted: Vec<serde_json::Value> = lines(&changes).into_iter().filter(|c| c["user"] == "posted-user").collect();
    assert!(!posted.is_empty(), "the posted user entered no segment: {stdout}");
    assert!(posted.iter().all(|c| c["change"] == "enter"));
}

#[test]
fn the_demo_delivers_its_changes_to_its_partners() {
    let (receiver_port, changes, receipts, dead) = (
        free_port(),
        scratch("activated.ndjson"),
        scratch("partners-out"),
        scratch("dead-letters"),
    );
    let _ = std::fs::remove_dir_all(&receipts);
    let secret = scratch("demo-test.secret");
    std::fs::write(&secret, "whsec_dGVzdC1kZW1vLXNlY3JldA==").unwrap_or_else(|e| panic!("{e}"));
    let partners = scratch("demo-partners.toml");
    let text = format!(
        "[[partner]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{receiver_port}/p/hook/webhook\"\n\
         segments = {{ adults_18_plus = \"adults\", not_known_male = \"nkm\", no_such_segment = \"x\" }}\n\
         max_batch_wait = \"50ms\"\ncredentials = {{ file = \"{}\" }}\n\
         [[partner]]\nid = \"aud\"\nkind = \"audience_api\"\nurl = \"http://127.0.0.1:{receiver_port}/p/aud/audiences\"\n\
         segments = {{ adults_18_plus = \"adults\" }}\nidentifier = {{ field = \"deviceId\", normalise = \"madid\", hash = \"sha256\" }}\n",
        secret.display()
    );
    std::fs::write(&partners, text).unwrap_or_else(|e| panic!("{e}"));
    let child = spawn_segstream(&[
        "demo",
        "--checkpoints",
        "off",
        "--lake",
        "off",
        "--collector",
        "off",
        "--console",
        "off",
        "--duration",
        "6s",
        "--users",
        "500",
        "--rate",
        "1000",
        "--workers",
        "2",
        "--out",
        &changes.display().to_string(),
        "--partners",
        &partners.display().to_string(),
        "--partner-receiver",
        &format!("127.0.0.1:{receiver_port}"),
        "--partners-out",
        &receipts.display().to_string(),
        "--dead-letters",
        &dead.display().to_string(),
    ]);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no_such_segment"), "an unknown segment is reported: {stderr}");
    assert!(stderr.contains("local partner http://127.0.0.1:"), "{stderr}");
    assert!(stdout.contains("partner hook:") && stdout.contains("0 still pending"), "{stdout}");
    // The webhook partner ends with exactly the final membership of its segments.
    let final_state = |rows: Vec<(String, String, bool)>| -> std::collections::BTreeMap<(String, String), bool> {
        rows.into_iter().map(|(u, s, e)| ((u, s), e)).collect()
    };
    let mapped = ["adults_18_plus", "not_known_male"];
    let classified = final_state(
        lines(&changes)
            .iter()
            .filter(|v| mapped.contains(&v["segment"].as_str().unwrap_or_default()))
            .map(|v| {
                (
                    v["user"].as_str().unwrap_or_default().to_string(),
                    v["segment"].as_str().unwrap_or_default().to_string(),
                    v["change"] == "enter",
                )
            })
            .collect(),
    );
    let received = final_state(
        lines(&receipts.join("hook.ndjson"))
            .iter()
            .map(|v| {
                (
                    v["user"].as_str().unwrap_or_default().to_string(),
                    v["segment"].as_str().unwrap_or_default().to_string(),
                    v["change"] == "enter",
                )
            })
            .collect(),
    );
    assert!(!classified.is_empty());
    assert_eq!(received, classified, "the partner's state is the classifier's");
    // The audience partner got hashed device ids, one per member.
    let audience = lines(&receipts.join("aud.ndjson"));
    assert!(!audience.is_empty());
    assert!(
        audience.iter().all(|v| v["identifier"].as_str().is_some_and(|id| id.len() == 64)),
        "SHA-256 hex ids"
    );
}

#[test]
fn the_collector_fails_closed_without_a_write_key() {
    let out = segstream(&["collector", "--config", "configs/kafka.toml", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no --write-key given") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    let out = segstream(&["collector", "--write-key", "k", "--insecure-no-auth"]);
    assert_eq!(out.status.code(), Some(2), "a key and no authentication at once: {out:?}");
}

#[test]
fn the_demo_makes_a_write_key_for_its_collector_and_refuses_requests_without_it() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let demo = Running::start(
        env!("CARGO_BIN_EXE_segstream"),
        &[
            "demo",
            "--checkpoints",
            "off",
            "--rate",
            "0",
            "--users",
            "100",
            "--workers",
            "1",
            "--collector",
            &listen,
            "--console",
            "off",
            "--partners",
            "off",
            "--lake",
            "off",
            "--duration",
            "20s",
            "--out",
            &scratch("made-key.ndjson").display().to_string(),
        ],
    );
    let line = demo.wait_for_line("collector: tracking API", Duration::from_secs(60));
    let key = line
        .split("write key ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no key in {line:?}"))
        .to_string();
    assert!(key.len() >= 32, "{key}");
    let now = segstream_time::format_timestamp(segstream_time::wall_clock_ms() as i64);
    let body = format!(
        r#"{{"messageId":"made-key-1","userId":"u1","event":"app_opened","properties":{{"os":"iOS","app_version":"5.2.0"}},"originalTimestamp":"{now}"}}"#
    );
    let body = body.as_str();
    let answer = poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        http(port, "POST", "/v1/track", &key, &[], Some(body)).map_err(|e| e.to_string())
    });
    assert!(answer.0.starts_with("HTTP/1.1 200"), "the made key is accepted: {answer:?}");
    let refused = http(port, "POST", "/v1/track", "wk", &[], Some(body)).unwrap_or_else(|e| panic!("{e}"));
    assert!(refused.0.starts_with("HTTP/1.1 401"), "another key is refused: {refused:?}");
}
