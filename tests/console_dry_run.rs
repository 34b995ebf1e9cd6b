//! The console's dry run is exact: its counts equal the membership the classifier
//! produces once the draft is published, at 1 and 2 workers. The demo runs without
//! generated traffic (`--rate 0`); events are posted to its collector, so the users'
//! state holds still between the dry run and the publish. The user lookup is exact
//! too: a user's segments equal the change stream folded up to the event time the
//! lookup names, and it shows the value each condition reads.

mod support;

use std::time::Duration;

use segstream_model::change::decode_change;
use serde_json::{json, Value};
use support::lookup::{members_by_changes, members_by_report, segment_of_report};
use support::process::Running;
use support::{free_port, http, poll_until, scratch_path, try_post};

const WAIT: Duration = Duration::from_secs(60);

struct Console {
    port: u16,
    token: String,
}

impl Console {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (String, Value) {
        self.call_with(method, path, &[], body)
    }

    fn call_with(&self, method: &str, path: &str, extra: &[(&str, &str)], body: Option<Value>) -> (String, Value) {
        let body = body.map(|b| b.to_string());
        let (head, text) =
            http(self.port, method, path, &self.token, extra, body.as_deref()).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (head, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn size(&self, segment: &str) -> Option<i64> {
        let (_, body) = self.call("GET", "/api/audiences", None);
        body["audiences"]
            .as_array()?
            .iter()
            .find(|a| a["segment"] == segment)
            .and_then(|a| a["size"].as_i64())
    }

    fn etag(&self, segment: &str) -> String {
        let (head, _) = self.call("GET", &format!("/api/segments/{segment}"), None);
        head.lines()
            .find_map(|l| l.strip_prefix("etag: ").or_else(|| l.strip_prefix("ETag: ")))
            .unwrap_or_else(|| panic!("no ETag: {head}"))
            .to_string()
    }

    /// Waits until every worker has applied rule-set `version`.
    fn wait_live(&self, version: u64) {
        poll_until(WAIT, Duration::from_millis(100), || {
            let (_, status) = self.call("GET", "/api/status", None);
            let workers = status["workers"].as_array().map(Vec::len).unwrap_or(0);
            let live = workers > 0 && status["live_workers"].as_u64() == Some(workers as u64) && status["ruleset_version"] == version;
            live.then_some(())
                .ok_or_else(|| format!("rule-set v{version} never went live: {status}"))
        })
    }

    fn dry_run(&self, text: &str, segment: &str) -> Value {
        let (head, body) = self.call("POST", "/api/dry-run", Some(json!({"text": text, "segment": segment})));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
        body
    }

    fn lookup(&self, user: &str) -> (String, Value) {
        self.call("GET", &format!("/api/users/{user}"), None)
    }

    fn publish(&self, segment: &str) {
        let items = json!({"segments": [{"segment": segment, "etag": self.etag(segment)}], "comment": "test"});
        let (head, body) = self.call("POST", "/api/publish", Some(items));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    }
}

fn post_openers(collector: u16, users: usize) {
    let now = segstream_time::format_timestamp(segstream_time::wall_clock_ms() as i64);
    let items: Vec<String> = (0..users)
        .map(|i| {
            format!(r#"{{"type":"track","messageId":"open-{i}","userId":"u{i}","event":"app_opened","properties":{{}},"originalTimestamp":"{now}"}}"#)
        })
        .collect();
    let body = format!(r#"{{"batch":[{}],"sentAt":"{now}"}}"#, items.join(","));
    let answer = poll_until(WAIT, Duration::from_millis(100), || {
        try_post(collector, "/v1/batch", &body).map_err(|e| format!("the demo's collector never answered: {e}"))
    });
    assert!(answer.0.starts_with("HTTP/1.1 200"), "{answer:?}");
}

/// A posted user's lookup agrees with the change stream and shows what `openers` reads.
fn lookup_agrees_with_the_change_stream(console: &Console, changes: &std::path::Path) {
    poll_until(WAIT, Duration::from_millis(100), || {
        let (head, report) = console.lookup("u7");
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("{head}\n{report}"));
        }
        let member_of = members_by_report(&report);
        let as_of = report["as_of_ms"].as_u64().unwrap_or_default();
        let text = std::fs::read_to_string(changes).unwrap_or_default();
        let decoded = text.lines().filter_map(|l| decode_change(l.as_bytes()).ok());
        let streamed = members_by_changes(decoded, "u7", as_of);
        (member_of == streamed && member_of.contains(&"openers".to_string()))
            .then_some(())
            .ok_or_else(|| format!("lookup {member_of:?} vs change stream {streamed:?} at {as_of}: {report}"))
    });
    let (_, report) = console.lookup("u7");
    assert_eq!(
        segment_of_report(&report, "openers")["reads"],
        json!([{"input": "count(\"app_opened\", \"1h\")", "value": 1}]),
        "{report}"
    );
    assert!(console.lookup("nobody-at-all").0.starts_with("HTTP/1.1 404"));
    assert!(console.lookup(&"x".repeat(300)).0.starts_with("HTTP/1.1 400"));
}

fn dry_run_equals_publishing(workers: &str) {
    let db = scratch_path("console_dry_run", &format!("console-{workers}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let collector = free_port();
    let changes = scratch_path("console_dry_run", &format!("changes-{workers}.ndjson"));
    let demo = Running::start(
        env!("CARGO_BIN_EXE_segstream"),
        &[
            "demo",
            "--checkpoints",
            "off",
            "--lake",
            "off",
            "--partners",
            "off",
            "--rate",
            "0",
            "--users",
            "400",
            "--workers",
            workers,
            "--duration",
            "120s",
            "--collector",
            &format!("127.0.0.1:{collector}"),
            "--write-key",
            "wk",
            "--console",
            "127.0.0.1:0",
            "--console-db",
            &db.display().to_string(),
            "--out",
            &changes.display().to_string(),
        ],
    );
    let line = demo.wait_for_line("console: http://", WAIT);
    let address = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{line}"));
    let port = address
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    let token = line
        .split("token ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap_or_else(|| panic!("{line}"));
    let console = Console { port, token: token.into() };
    console.wait_live(1);
    post_openers(collector, 60);

    // A new segment over the posted events: wait until the events are in, then compare.
    let openers = "[[segment]]\nid = \"openers\"\nname = \"Openers\"\nwhen = 'count(\"app_opened\", \"1h\") >= 1'\n";
    let dry = poll_until(WAIT, Duration::ZERO, || {
        let dry = console.dry_run(openers, "openers");
        (dry["matched"] == 60)
            .then(|| dry.clone())
            .ok_or_else(|| format!("the posted events never showed: {dry}"))
    });
    assert_eq!((dry["entering"].clone(), dry["exiting"].clone()), (json!(60), json!(0)), "{dry}");
    let (head, body) = console.call("POST", "/api/segments", Some(json!({"text": openers})));
    assert!(head.starts_with("HTTP/1.1 201"), "{head} {body}");
    console.publish("openers");
    console.wait_live(2);
    assert_eq!(console.size("openers"), Some(60), "published membership equals the dry run");
    lookup_agrees_with_the_change_stream(&console, &changes);

    // An edit of a live segment: the dry run's counts move the live size to the published one.
    let live_size = console
        .size("adults_18_plus")
        .unwrap_or_else(|| panic!("adults_18_plus has no size"));
    let (_, current) = console.call("GET", "/api/segments/adults_18_plus", None);
    let edited = current["latest_text"]
        .as_str()
        .unwrap_or_default()
        .replace("age() >= 18", "age() >= 30");
    assert!(edited.contains("age() >= 30"), "{edited}");
    let dry = console.dry_run(&edited, "adults_18_plus");
    let (matched, entering, exiting) = (dry["matched"].as_i64(), dry["entering"].as_i64(), dry["exiting"].as_i64());
    assert_eq!(matched, Some(live_size + entering.unwrap_or(0) - exiting.unwrap_or(0)), "{dry}");
    assert!(exiting > Some(0), "raising the age bar drops someone: {dry}");
    let etag = console.etag("adults_18_plus");
    let (head, _) = console.call_with(
        "PUT",
        "/api/segments/adults_18_plus",
        &[("If-Match", &etag)],
        Some(json!({"text": edited, "comment": "older"})),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    console.publish("adults_18_plus");
    console.wait_live(3);
    assert_eq!(console.size("adults_18_plus"), matched, "published membership equals the dry run");
}

#[test]
fn the_dry_run_equals_what_publishing_produces_at_one_worker() {
    dry_run_equals_publishing("1");
}

#[test]
fn the_dry_run_equals_what_publishing_produces_at_two_workers() {
    dry_run_equals_publishing("2");
}
