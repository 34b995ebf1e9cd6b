//! `segstream-harness run` end to end on the embedded deployment, as CI runs it: a few
//! seconds of load through `segstream demo`'s collector, a verdict, the oracle check,
//! what the classifier observed (its metrics), and a report with its plots.
//!
//! Needs the `segstream` binary next to the harness's (`cargo test --workspace` builds
//! both); fails with that message if it is missing.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_short_embedded_run_passes_the_sla_matches_the_oracle_and_writes_a_report() {
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_segstream-harness"));
    let segstream = harness.with_file_name("segstream");
    assert!(
        segstream.exists(),
        "{} is missing: build the workspace (cargo test --workspace builds it)",
        segstream.display()
    );
    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("harness-embedded-report");
    let _ = std::fs::remove_dir_all(&report);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(&harness)
        .current_dir(root)
        .args([
            "run",
            "--target",
            "embedded",
            "--rate",
            "400",
            "--duration",
            "6s",
            "--users",
            "3000",
        ])
        .args(["--check-per-10k", "2000", "--drain", "10s", "--sla", "5s"])
        .args(["--report", &report.display().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("running the harness: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the run did not pass:\n{stdout}\n{stderr}");
    assert!(stdout.contains("sent 2400 events"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("PASS: p99")), "{stdout}");
    let correctness = stdout.lines().find(|l| l.starts_with("correctness:")).unwrap_or_default();
    assert!(correctness.contains("all equal to the oracle's"), "{stdout}");
    assert!(!correctness.starts_with("correctness: 0 sampled"), "nothing was checked: {stdout}");
    // Every acknowledged event of every user was found in what the classifier read.
    let whole: u64 = correctness
        .split_once("of all users, ")
        .and_then(|(_, rest)| rest.split_once(" acknowledged events, 0 lost"))
        .and_then(|(count, _)| count.parse().ok())
        .unwrap_or_else(|| panic!("no whole-stream loss figure: {stdout}"));
    assert!(whole > 2_000, "most of the 2,400 events were acknowledged and checked: {stdout}");
    let observed = stdout.lines().find(|l| l.starts_with("classifier observed:")).unwrap_or_default();
    assert!(observed.contains(" read, ") && !observed.contains("unknown"), "{stdout}");
    let markdown = std::fs::read_to_string(report.join("report.md")).unwrap_or_else(|e| panic!("report.md: {e}"));
    assert!(markdown.contains("PASS: p99"), "{markdown}");
    for plot in ["latency.svg", "cdf.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(report.join(plot)).unwrap_or_else(|e| panic!("{plot}: {e}"));
        assert!(svg.contains("<svg") && svg.contains("polyline"), "{plot} has no curve");
    }
}
