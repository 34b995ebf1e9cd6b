//! `segstream console` in a distributed deployment (the real broker and Redis, a
//! classifier of two processes): a new
//! repository publishes the rule files to the rules topic, and a segment created and
//! published through the API changes membership in a running classifier, which
//! acknowledges the rule-set version and reports segment sizes through Redis; a user
//! lookup, answered by the classifier process through Redis, agrees with the changes
//! topic and shows the profile field the new rule reads. The time from
//! the publish answer to the first change on the changes topic is printed (recorded in
//! docs/benchmarks.md: `cargo test --test console_kafka -- --nocapture`).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::deployment::{self, Deployment, SERVICES};
use support::lookup::{members_by_changes, members_by_report, segment_of_report};
use support::process::Running;
use support::scenario::{Workload, CLASSIFIER, RULES};
use support::{http, poll_until, scratch_path};

const TOKEN: &str = "kafka-test-editor-token-0123";

fn now_ms() -> u64 {
    segstream_time::wall_clock_ms()
}

fn call(port: u16, method: &str, path: &str, extra: &[(&str, &str)], body: Option<Value>) -> (String, Value) {
    let body = body.map(|b| b.to_string());
    let (head, text) = http(port, method, path, TOKEN, extra, body.as_deref()).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (head, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The `ETag` of an answer's head.
fn etag_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("{head}"))
        .to_string()
}

/// The size of `segment` in the console's list.
fn size_of(port: u16, segment: &str) -> Option<i64> {
    let (_, body) = call(port, "GET", "/api/audiences", &[], None);
    body["audiences"].as_array()?.iter().find(|a| a["segment"] == segment)?["size"].as_i64()
}

/// A dry run of a narrower `in_germany` (whose rule is `text`), answered by the
/// classifier process through Redis, equals what publishing it produces; its shadows
/// reach neither the changes topic nor the sizes.
fn dry_run_equals_publishing(port: u16, text: &str, d: &Deployment) {
    let narrower = text.replace(
        "profile.country == \"DE\"",
        "profile.country == \"DE\" && profile.gender == \"female\"",
    );
    assert_ne!(narrower, text);
    let (head, dry) = call(
        port,
        "POST",
        "/api/dry-run",
        &[],
        Some(json!({"text": narrower, "segment": "in_germany"})),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {dry}");
    let (matched, entering, exiting) = (dry["matched"].as_i64(), dry["entering"].as_i64(), dry["exiting"].as_i64());
    assert_eq!((entering, matched.map(|m| m + exiting.unwrap_or(0))), (Some(0), Some(6)), "{dry}");
    assert!(exiting > Some(0), "the men leave: {dry}");
    let (head, _) = call(port, "GET", "/api/segments/in_germany", &[], None);
    let etag = etag_of(&head);
    let (head, saved) = call(
        port,
        "PUT",
        "/api/segments/in_germany",
        &[("If-Match", &etag)],
        Some(json!({"text": narrower, "comment": "women only"})),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {saved}");
    let etag = etag_of(&head);
    let body = json!({"segments": [{"segment": "in_germany", "etag": etag}], "comment": "narrower"});
    let (head, published) = call(port, "POST", "/api/publish", &[], Some(body));
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {published}");
    poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let size = size_of(port, "in_germany");
        (size == matched)
            .then_some(())
            .ok_or_else(|| format!("in_germany is {size:?}, the dry run said {matched:?}"))
    });
    let shadows_on_topic = deployment::read_changes(&d.changes)
        .iter()
        .filter(|c| c.1.starts_with("__"))
        .count();
    assert_eq!(shadows_on_topic, 0);
    let (_, audiences) = call(port, "GET", "/api/audiences", &[], None);
    assert!(!audiences.to_string().contains("__dry_run"), "{audiences}");
}

/// Users 0 (in Germany) and 1 (who lost the country) looked up through the console.
fn lookups_agree_with_the_changes_topic(port: u16, d: &Deployment) {
    for (user, country) in [(format!("{}-u0", d.name), json!("DE")), (format!("{}-u1", d.name), Value::Null)] {
        let report = poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
            let (head, report) = call(port, "GET", &format!("/api/users/{user}"), &[], None);
            let members = members_by_report(&report);
            let as_of = report["as_of_ms"].as_u64().unwrap_or_default();
            let on_topic = members_by_changes(deployment::read_changes(&d.changes), &user, as_of);
            (head.starts_with("HTTP/1.1 200") && members == on_topic)
                .then(|| report.clone())
                .ok_or_else(|| format!("{head}: lookup {members:?} vs topic {on_topic:?}: {report}"))
        });
        let in_germany = segment_of_report(&report, "in_germany");
        assert_eq!(
            in_germany["reads"],
            json!([{"input": "profile.country", "value": country}]),
            "{report}"
        );
        assert_eq!(in_germany["member"], json!(!country.is_null()), "{report}");
    }
    let (head, body) = call(port, "GET", "/api/users/nobody-at-all", &[], None);
    assert!(head.starts_with("HTTP/1.1 404"), "{head} {body}");
}

#[test]
fn a_rule_published_in_the_console_changes_membership_in_a_running_deployment() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("console", 2, CLASSIFIER);
    let start = now_ms() - 120_000;
    let start = start - start % 100;
    let workload = Workload::new(&d.name, start, 8, 4);
    workload.produce(&d, &deployment::producer());
    let mut cluster = d.classify_cluster(2, &[], "run");
    let women = |changes: &[deployment::Change]| changes.iter().filter(|c| c.1 == "women" && c.3).count();
    poll_until(Duration::from_secs(60), Duration::from_millis(200), || {
        let caught_up = women(&deployment::read_changes(&d.changes)) >= 4;
        caught_up
            .then_some(())
            .ok_or_else(|| format!("the classifier never caught up:\n{}", d.log("run-0")))
    });

    let rules = scratch_path(&format!("{}-rules", d.name), "test.toml");
    std::fs::write(&rules, RULES).unwrap_or_else(|e| panic!("{e}"));
    let tokens = scratch_path(&format!("{}-rules", d.name), "tokens.toml");
    std::fs::write(
        &tokens,
        format!("[[token]]\nname = \"eve\"\nrole = \"editor\"\ntoken = \"{TOKEN}\"\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let db = scratch_path(&format!("{}-rules", d.name), "console.db");
    let console = Running::start(
        env!("CARGO_BIN_EXE_segstream"),
        &[
            "console",
            "--config",
            d.config_arg(),
            "--rules",
            &rules.display().to_string(),
            "--console",
            "127.0.0.1:0",
            "--console-db",
            &db.display().to_string(),
            "--console-tokens",
            &tokens.display().to_string(),
        ],
    );
    let line = console.wait_for_line("console: http://", Duration::from_secs(60));
    let port: u16 = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .and_then(|u| u.trim_end_matches('/').rsplit(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // The new repository published the files as rule-set v1 to the rules topic.
    poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let records = deployment::read_all(&d.rules);
        let v1 = records
            .iter()
            .any(|r| String::from_utf8_lossy(r.1.as_deref().unwrap_or_default()).contains("\"version\":1"));
        v1.then_some(())
            .ok_or_else(|| format!("the console never published v1:\n{}", console.lines().join("\n")))
    });

    let text = "[[segment]]\nid = \"in_germany\"\nname = \"In Germany\"\nwhen = 'profile.country == \"DE\"'\n";
    let (head, created) = call(port, "POST", "/api/segments", &[], Some(json!({"text": text})));
    assert!(head.starts_with("HTTP/1.1 201"), "{head} {created}");
    let (head, _) = call(port, "GET", "/api/segments/in_germany", &[], None);
    let etag = etag_of(&head);
    let body = json!({"segments": [{"segment": "in_germany", "etag": etag}], "comment": "launch"});
    let (head, published) = call(port, "POST", "/api/publish", &[], Some(body));
    let published_at = Instant::now();
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {published}");
    assert_eq!(published["delivery"]["delivered_version"], json!(2), "{published}");
    let in_germany = |changes: &[deployment::Change]| changes.iter().filter(|c| c.1 == "in_germany" && c.3).count();
    let first_change = poll_until(Duration::from_secs(60), Duration::from_millis(20), || {
        let changed = in_germany(&deployment::read_changes(&d.changes)) > 0;
        changed
            .then(|| published_at.elapsed())
            .ok_or_else(|| format!("no membership change:\n{}", d.log("run-0")))
    });
    // Of the workload's 8 users, one loses its country and one its profile.
    poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let all = in_germany(&deployment::read_changes(&d.changes)) >= 6;
        all.then_some(())
            .ok_or_else(|| format!("not every user in Germany entered:\n{}", d.log("run-0")))
    });
    // Every classifier worker acknowledges v2 (through Redis), and the console says so.
    let status = poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let (_, status) = call(port, "GET", "/api/status", &[], None);
        let live = status["ruleset_version"] == 2 && status["live_workers"] == 2;
        live.then(|| status.clone())
            .ok_or_else(|| format!("v2 never acknowledged: {status}"))
    });
    assert_eq!(status["workers"], json!([2, 2]), "{status}");
    // The workers report segment sizes and moves per minute through Redis, and the
    // console lists them: the last hour's moves are every change on the topic.
    let moves_on_topic = |segment: &str| {
        let changes = deployment::read_changes(&d.changes);
        let count = |entered: bool| changes.iter().filter(|c| c.1 == segment && c.3 == entered).count();
        json!([count(true), count(false)])
    };
    poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let (_, body) = call(port, "GET", "/api/audiences", &[], None);
        let audience = |segment: &str| {
            let found = body["audiences"].as_array()?.iter().find(|a| a["segment"] == segment)?.clone();
            Some((
                found["size"].clone(),
                json!([found["entered_last_hour"], found["exited_last_hour"]]),
            ))
        };
        let expected = [
            ("in_germany", Some((json!(6), json!([6, 0])))),
            ("women", audience("women").map(|(size, _)| (size, moves_on_topic("women")))),
        ];
        expected
            .iter()
            .all(|(segment, wanted)| wanted.is_some() && audience(segment) == *wanted)
            .then_some(())
            .ok_or_else(|| format!("sizes and moves never showed as expected {expected:?}: {body}"))
    });
    lookups_agree_with_the_changes_topic(port, &d);
    dry_run_equals_publishing(port, text, &d);
    println!(
        "console publish -> first membership change on the changes topic: {} ms",
        first_change.as_millis()
    );
    for process in cluster.iter_mut() {
        let _ = process.kill();
        let _ = process.wait();
    }
    // The scenario's rules and the console's `in_germany`.
    let published = format!(
        "rules: applied a published set of {} segments",
        RULES.matches("[[segment]]").count() + 1
    );
    assert!(d.log("run-0").contains(&published), "no \"{published}\" in:\n{}", d.log("run-0"));
}
