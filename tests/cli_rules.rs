//! `segstream rules check` and `segstream rules eval`, run as a user runs them.

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::{scratch_path, segstream};

/// `segstream rules eval` on the example rules and the whale view, plus `extra` flags.
fn eval_whale(extra: &[&str]) -> Output {
    let mut args = vec![
        "rules",
        "eval",
        "--rule",
        "configs/rules",
        "--view",
        "configs/views/whale-view.json",
    ];
    args.extend_from_slice(extra);
    segstream(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let path = scratch_path("cli_rules", name);
    if let Err(e) = std::fs::write(&path, contents) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

#[test]
fn check_accepts_the_example_rules() {
    let out = segstream(&["rules", "check", "configs/rules"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ok: 43 segments in 4 file(s); 39 features (33 windowed)"),
        "{stdout}"
    );
}

#[test]
fn check_prints_errors_like_a_compiler_and_exits_1() {
    let bad = scratch(
        "bad.toml",
        b"[[segment]]\nid = \"x\"\nname = \"X\"\nwhen = '''\ncount(\"ad_clikced\", \"10m\") >= 3\n'''\n",
    );
    let out = segstream(&["rules", "check", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let expected = format!(
        "{}:5:7: error: unknown event type \"ad_clikced\" (did you mean \"ad_clicked\"?)\n  |\n5 | count(\"ad_clikced\", \"10m\") >= 3\n  |       ^^^^^^^^^^^^",
        bad.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("error: 1 problem(s) found in 1 file(s)"), "{stderr}");
}

#[test]
fn unreadable_input_is_a_clear_error_with_exit_2() {
    let binary = scratch("binary.toml", &[0x7f, b'E', b'L', b'F', 0, 0xff, 0xfe]);
    let out = segstream(&["rules", "check", &binary.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not UTF-8 text"), "{}", text(&out.stderr));
    let out = segstream(&["rules", "check", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read no/such/dir"), "{}", text(&out.stderr));
    let out = segstream(&["rules", "check", "configs/rules", "--schema", "configs/rules/ads.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("configs/rules/ads.toml:"), "{}", text(&out.stderr));
}

#[test]
fn eval_shows_results_and_the_features_read() {
    let out = eval_whale(&["--segment", "whales"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "now: 2026-11-28T20:00:00.000Z\nwhales                       true\n    sum(\"purchase\", \"amount\", \"30d\") = 172.95\n"
    );
    let out = eval_whale(&["--format", "json"]);
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(lines.len(), 43);
    let whales = lines.iter().find(|l| l["segment"] == "whales").cloned().unwrap_or_default();
    assert_eq!(whales["result"], serde_json::Value::Bool(true));
    assert_eq!(
        whales["features"]["sum(\"purchase\", \"amount\", \"30d\")"],
        serde_json::json!(172.95)
    );
}

#[test]
fn eval_rejects_bad_views_with_their_path() {
    let view = scratch("view.json", br#"{"now": "2026-01-01T00:00:00Z", "events": [{"type": "purchase", "time": "2026-01-01T00:00:00Z", "properties": {"amount": "lots"}}]}"#);
    let out = segstream(&["rules", "eval", "--rule", "configs/rules", "--view", &view.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("events[0].properties: field \"amount\": expected double, found a string"),
        "{}",
        text(&out.stderr)
    );
    let out = eval_whale(&["--segment", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no segment \"nope\""));
}
