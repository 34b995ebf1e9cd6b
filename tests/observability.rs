//! What an operator plugs in: JSON logs, metrics pages that Prometheus parses, and a
//! dashboard and alert rules that name only series the components export.
//!
//! The parser is Prometheus's own (`promtool check metrics`, which also lints names
//! against the conventions; `promtool check rules` for the alert rules). `scripts/test`
//! installs it (Debian's `prometheus` package); without it these tests fail.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use segstream_activation::metrics_text::PartnerMetricsCollector;
use segstream_collector::metrics::CollectorMetrics;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_lake::metrics::LakeMetrics;
use segstream_telemetry::exposition::Exposition;
use support::{free_port, http, poll_until, scratch_path};

fn scratch(name: &str) -> std::path::PathBuf {
    scratch_path("observability", name)
}

/// `promtool check metrics` on `page`: Ok, or what it found.
fn promtool_check_metrics(page: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool is needed (Debian's prometheus package; scripts/test installs it): {e}"));
    child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin"))
        .write_all(page.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// The port of the first `http://127.0.0.1:PORT` after `marker` in `text`.
fn port_after(text: &str, marker: &str) -> Option<u16> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let address = &rest[rest.find("http://127.0.0.1:")? + "http://127.0.0.1:".len()..];
    address.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// A page of `port`'s `/metrics` once it answers with `needle` in it.
fn scrape_until(port: u16, needle: &str) -> String {
    poll_until(Duration::from_secs(60), Duration::from_millis(200), || {
        let (head, body) = http(port, "GET", "/metrics", "", &[], None).map_err(|e| e.to_string())?;
        match head.starts_with("HTTP/1.1 200") && body.contains(needle) {
            true => Ok(body),
            false => Err(format!("{head}\n{body}")),
        }
    })
}

#[test]
fn the_demo_logs_json_lines_and_every_metrics_page_parses_with_promtool() {
    let (receiver_port, changes, stderr_path) = (free_port(), scratch("changes.ndjson"), scratch("demo.stderr"));
    let (partners, secret) = (scratch("partners.toml"), scratch("hook.secret"));
    std::fs::write(&secret, "whsec_dGVzdC1kZW1vLXNlY3JldA==").unwrap_or_else(|e| panic!("{e}"));
    let partners_text = format!(
        "[[partner]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{receiver_port}/p/hook/webhook\"\n\
         segments = {{ adults_18_plus = \"adults\" }}\nmax_batch_wait = \"50ms\"\ncredentials = {{ file = \"{}\" }}\n",
        secret.display()
    );
    std::fs::write(&partners, partners_text).unwrap_or_else(|e| panic!("{e}"));
    let lake = scratch("lake");
    let _ = std::fs::remove_dir_all(&lake);
    let stderr = std::fs::File::create(&stderr_path).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args([
            "--log-format",
            "json",
            "demo",
            "--checkpoints",
            "off",
            "--console",
            "off",
            "--duration",
            "8s",
            "--users",
            "500",
            "--rate",
            "1000",
        ])
        .args(["--workers", "2", "--metrics-addr", "127.0.0.1:0", "--collector", "127.0.0.1:0"])
        .args(["--out", &changes.display().to_string(), "--lake", &lake.display().to_string()])
        .args([
            "--partners",
            &partners.display().to_string(),
            "--partner-receiver",
            &format!("127.0.0.1:{receiver_port}"),
        ])
        .args(["--partners-out", &scratch("receipts").display().to_string()])
        .args(["--dead-letters", &scratch("dead-letters").display().to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run segstream: {e}"));
    let logged = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let (metrics_port, collector_port) = poll_until(Duration::from_secs(60), Duration::from_millis(100), || {
        let text = logged();
        match (port_after(&text, "metrics: "), port_after(&text, "collector: listening on")) {
            (Some(m), Some(c)) => Ok((m, c)),
            _ => Err(text),
        }
    });
    // One page for the whole demo: every component's collector, with live values.
    let demo_page = scrape_until(metrics_port, "segstream_partner_delivered_total{partner=\"hook\"}");
    for family in [
        "segstream_records_read_total",
        "segstream_segment_members",
        "segstream_collector_publish_duration_seconds",
        "segstream_lake_commits_total",
        "segstream_partner_delivery_latency_seconds",
    ] {
        assert!(demo_page.contains(&format!("# TYPE {family} ")), "{family} missing:\n{demo_page}");
    }
    promtool_check_metrics(&demo_page).unwrap_or_else(|e| panic!("the demo's page: {e}\n{demo_page}"));
    let collector_page = scrape_until(collector_port, "segstream_collector_requests_total");
    promtool_check_metrics(&collector_page).unwrap_or_else(|e| panic!("the collector's page: {e}\n{collector_page}"));
    let status = support::deployment::wait_for(&mut child, Duration::from_secs(120), "the demo");
    assert!(status.success(), "{}", logged());
    // Every line on standard error is a JSON object with a level and a message.
    let text = logged();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 5, "the demo says what it does: {text}");
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value["level"].is_string() && value["message"].is_string(), "{line}");
        assert!(value["timestamp"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("events/s=")), "progress is logged: {text}");
}

/// The metric names `text` mentions (`segstream_…`).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("segstream_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// Every series name the components can export: families from `# TYPE` lines, with a
/// histogram's `_bucket`, `_sum` and `_count`.
fn exported() -> BTreeSet<String> {
    let page = Exposition::of(Arc::new(ClassifierMetrics::default()))
        .with(Arc::new(CollectorMetrics::default()))
        .with(Arc::new(LakeMetrics::default()))
        .with(PartnerMetricsCollector(Vec::new()))
        .render();
    let mut names = BTreeSet::new();
    for line in page.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut words = line.split(' ');
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// A child of `segstream args…` with its output in the scratch file `log`.
fn spawn(args: &[&str], log: &str) -> std::process::Child {
    let file = std::fs::File::create(scratch(log)).unwrap_or_else(|e| panic!("{e}"));
    let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
    Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(args)
        .env("SEGSTREAM_TEST_OBS_SECRET", "whsec_dGVzdC1vYnMtc2VjcmV0")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run segstream: {e}"))
}

/// Kills a child when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_distributed_commands_metrics_pages_parse_with_promtool() {
    let d = support::deployment::Deployment::new("observability", 2, "");
    let config = d.config_arg().to_string();
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let address = |port: u16| format!("127.0.0.1:{port}");
    let partners = scratch("distributed-partners.toml");
    let text = format!(
        "[[partner]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{}/p/hook/webhook\"\n\
         segments = {{ adults_18_plus = \"adults\" }}\ncredentials = {{ env = \"SEGSTREAM_TEST_OBS_SECRET\" }}\n",
        free_port()
    );
    std::fs::write(&partners, text).unwrap_or_else(|e| panic!("{e}"));
    let (lake, dead) = (scratch("distributed-lake"), scratch("distributed-dead-letters"));
    let _ = std::fs::remove_dir_all(&lake);
    let (classify_at, activate_at, lake_at, collector_at) = (address(ports[0]), address(ports[1]), address(ports[2]), address(ports[3]));
    let _children = [
        Killed(spawn(
            &["classify", "--config", &config, "--workers", "1", "--metrics-addr", &classify_at],
            "classify.log",
        )),
        Killed(spawn(
            &[
                "activate",
                "--config",
                &config,
                "--partners",
                &partners.display().to_string(),
                "--status-addr",
                &activate_at,
            ]
            .into_iter()
            .chain(["--dead-letter-dir", &dead.display().to_string()])
            .collect::<Vec<_>>(),
            "activate.log",
        )),
        Killed(spawn(
            &[
                "lake",
                "write",
                "--config",
                &config,
                "--table",
                &lake.display().to_string(),
                "--metrics-addr",
                &lake_at,
            ],
            "lake.log",
        )),
        Killed(spawn(
            &["collector", "--config", &config, "--listen", &collector_at, "--write-key", "wk"]
                .into_iter()
                .chain(["--spool-dir", &scratch("distributed-spool").display().to_string()])
                .collect::<Vec<_>>(),
            "collector.log",
        )),
    ];
    for (port, family, log) in [
        (ports[0], "segstream_durable_frontier_timestamp_seconds", "classify.log"),
        (ports[1], "segstream_partner_delivered_total{partner=\"hook\"}", "activate.log"),
        (ports[2], "segstream_lake_commits_total", "lake.log"),
        (ports[3], "segstream_collector_requests_total", "collector.log"),
    ] {
        let page = poll_until(Duration::from_secs(90), Duration::from_millis(200), || {
            let (head, body) = http(port, "GET", "/metrics", "", &[], None)
                .map_err(|e| format!("{e}; its log:\n{}", std::fs::read_to_string(scratch(log)).unwrap_or_default()))?;
            match head.starts_with("HTTP/1.1 200") && body.contains(family) {
                true => Ok(body),
                false => Err(format!("{head}\n{body}")),
            }
        });
        promtool_check_metrics(&page).unwrap_or_else(|e| panic!("{log}'s page: {e}\n{page}"));
    }
}

#[test]
fn the_dashboard_and_the_alert_rules_name_only_exported_series() {
    let exported = exported();
    let dashboard_text = std::fs::read_to_string("configs/grafana/segstream.json").unwrap_or_else(|e| panic!("{e}"));
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard_text).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"));
    let mut exprs = Vec::new();
    let mut stack = vec![&dashboard];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(expr)) = map.get("expr") {
                    exprs.push(expr.clone());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(exprs.len() >= 20, "the dashboard has its queries: {}", exprs.len());
    let alerts = std::fs::read_to_string("configs/prometheus/alerts.yml").unwrap_or_else(|e| panic!("{e}"));
    let named: BTreeSet<String> = names_in(&exprs.join("\n")).into_iter().chain(names_in(&alerts)).collect();
    let missing: Vec<&String> = named.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(missing.is_empty(), "named but not exported: {missing:?}\nexported: {exported:?}");
    // Each area of the issue has its series on the dashboard.
    for needed in [
        "segstream_collector_events_accepted_total",
        "segstream_durable_frontier_timestamp_seconds",
        "segstream_records_read_total",
        "segstream_segment_members",
        "segstream_partner_delivery_latency_seconds_bucket",
        "segstream_lake_commits_total",
        "segstream_checkpoint_timestamp_seconds",
    ] {
        assert!(exprs.iter().any(|e| e.contains(needed)), "the dashboard shows {needed}");
    }
    let checked = Command::new("promtool")
        .args(["check", "rules", "configs/prometheus/alerts.yml"])
        .output()
        .unwrap_or_else(|e| panic!("promtool is needed (Debian's prometheus package; scripts/test installs it): {e}"));
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
