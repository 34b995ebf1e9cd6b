//! `segstream collector` against the real broker: acknowledged events are in the
//! events topic, rejected ones in failed-events; with no broker, 503 and Retry-After.

mod support;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::deployment::{self, Deployment, SERVICES};
use support::{free_port, try_post};

fn start(d: &Deployment, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let spool = support::scratch_path("collector-spools", &d.name);
    let child = Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["collector", "--config", d.config_arg(), "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--write-key",
            "wk",
            "--publish-timeout",
            "2s",
            "--spool-dir",
            spool.to_str().unwrap(),
        ])
        .args(extra)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the collector did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn post(port: u16, path: &str, body: &str) -> (String, String) {
    try_post(port, path, body).unwrap()
}

fn batch(d: &Deployment) -> String {
    let item = |i: usize, ad: &str| {
        format!(
            r#"{{"type":"track","messageId":"{}-m{i}","userId":"u{i}","event":"ad_watched","properties":{{"ad_id":{ad}}},"originalTimestamp":"2026-11-26T10:00:00Z"}}"#,
            d.name
        )
    };
    format!(
        r#"{{"batch":[{},{},{}],"sentAt":"2026-11-26T10:00:01Z"}}"#,
        item(0, "\"A\""),
        item(1, "7"),
        item(2, "\"B\"")
    )
}

#[test]
fn acknowledged_events_are_in_the_topic_and_rejected_ones_in_failed_events() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("collector", 2, "");
    let port = free_port();
    let mut collector = start(&d, port, &[], &[]);
    let (head, body) = post(port, "/v1/batch", &batch(&d));
    let _ = collector.kill();
    let _ = collector.wait();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    assert!(body.contains("\"accepted\":2"), "{body}");
    let events = deployment::read_all(&d.events);
    let mut users: Vec<&str> = events.iter().map(|(key, _, _)| key.as_str()).collect();
    users.sort();
    assert_eq!(users, vec!["u0", "u2"], "keyed by user");
    let event: serde_json::Value = serde_json::from_slice(events[0].1.as_ref().unwrap()).unwrap();
    assert!(
        event["received_at"].is_string() && event["collector"]["version"].is_string(),
        "{event}"
    );
    let failed = deployment::read_all(&d.failed_events);
    assert_eq!(failed.len(), 1);
    assert!(String::from_utf8_lossy(failed[0].1.as_ref().unwrap()).contains("ad_id"));
}

#[test]
fn without_a_broker_events_are_spooled_and_arrive_once_it_is_reachable() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("collector-spool", 1, "");
    let nowhere = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let mut collector = start(&d, port, &[], &[("SEGSTREAM__KAFKA__BROKERS", nowhere.as_str())]);
    let (head, body) = post(port, "/v1/batch", &batch(&d));
    let _ = collector.kill();
    let _ = collector.wait();
    assert!(head.starts_with("HTTP/1.1 200"), "acknowledged from the spool: {head}\n{body}");
    assert!(deployment::read_all(&d.events).is_empty());
    // Killed with the events only on disk; restarted with the broker reachable, it
    // republishes them.
    let port = free_port();
    let mut collector = start(&d, port, &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while deployment::read_all(&d.events).len() < 2 {
        assert!(Instant::now() < deadline, "the spooled events never reached the topic");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = collector.kill();
    let _ = collector.wait();
    assert_eq!(deployment::read_all(&d.failed_events).len(), 1);
}

#[test]
fn with_no_broker_and_a_full_spool_requests_get_503_and_retry_after() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("collector-full", 1, "");
    let nowhere = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let mut collector = start(
        &d,
        port,
        &["--spool-capacity", "10"],
        &[("SEGSTREAM__KAFKA__BROKERS", nowhere.as_str())],
    );
    let (head, body) = post(port, "/v1/batch", &batch(&d));
    let _ = collector.kill();
    let _ = collector.wait();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 5"), "{head}");
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Four threads posting batches of 20 events with unique messageIds, pausing `pause`
/// after each, until `stop`; the acknowledged ids are collected.
fn load(
    d: &Deployment,
    port: u16,
    pause: Duration,
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<Vec<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..4).map(|thread| {
        let (stop, acked, name) = (Arc::clone(stop), Arc::clone(acked), d.name.clone());
        std::thread::spawn(move || {
            let mut next = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let ids: Vec<String> = (next..next + 20).map(|i| format!("{name}-t{thread}-k{i}")).collect();
                next += 20;
                let items: Vec<String> = ids
                    .iter()
                    .map(|id| format!(r#"{{"messageId":"{id}","userId":"u-{id}","event":"ad_watched","originalTimestamp":"2026-11-26T10:00:00Z"}}"#))
                    .collect();
                match try_post(port, "/v1/batch", &format!(r#"{{"batch":[{}]}}"#, items.join(","))) {
                    Ok((head, _)) if head.starts_with("HTTP/1.1 200") => {
                        acked.lock().unwrap().extend(ids);
                        std::thread::sleep(pause);
                    }
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    }).collect()
}

/// Waits until every acknowledged id is in the events topic; returns how many are missing.
fn missing_after_waiting(d: &Deployment, acked: &[String], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let stored: std::collections::HashSet<String> = deployment::read_all(&d.events)
            .into_iter()
            .filter_map(|(_, p, _)| {
                serde_json::from_slice::<serde_json::Value>(&p?).ok()?["id"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        let missing = acked.iter().filter(|id| !stored.contains(*id)).count();
        if missing == 0 || Instant::now() > deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Sends batches under load while the collector is killed with SIGKILL ten times at
/// random moments and restarted; every acknowledged messageId must reach the topic.
#[test]
fn no_acknowledged_event_is_lost_across_ten_kill_9s() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("collector-kill", 2, "");
    let port = free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let senders = load(&d, port, Duration::ZERO, &stop, &acked);
    let mut collector = start(&d, port, &[], &[]);
    for kill in 0..10u64 {
        // A pseudo-random moment between 0.6 and 1.5 s after the restart.
        std::thread::sleep(Duration::from_millis(600 + (kill * 7919 + 13) % 900));
        collector.kill().unwrap();
        collector.wait().unwrap();
        collector = start(&d, port, &[], &[]);
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    println!("{} events acknowledged across the kills", acked.len());
    // Correctness, not throughput (that is the harness's): events were acknowledged
    // around the kills, and every one of them must arrive.
    assert!(!acked.is_empty(), "no event was acknowledged across the kills");
    let missing = missing_after_waiting(&d, &acked, Duration::from_secs(60));
    let _ = collector.kill();
    let _ = collector.wait();
    assert_eq!(missing, 0, "acknowledged events lost, of {}", acked.len());
}

/// The broker stopped for 30 s under load: requests keep succeeding from the spool, and
/// once the broker is back every acknowledged event arrives.
#[test]
fn a_thirty_second_broker_outage_is_absorbed_by_the_spool() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("collector-outage", 2, "");
    let port = free_port();
    let mut collector = start(&d, port, &[], &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let senders = load(&d, port, Duration::from_millis(50), &stop, &acked);
    std::thread::sleep(Duration::from_secs(2));
    deployment::services(&["stop", "tansu"]);
    let before = acked.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(30));
    let during = acked.lock().unwrap().len() - before;
    deployment::services(&["start", "tansu"]);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    assert!(during > 0, "requests must keep succeeding during the outage: {during} acknowledged");
    let acked = acked.lock().unwrap().clone();
    let missing = missing_after_waiting(&d, &acked, Duration::from_secs(120));
    let _ = collector.kill();
    let _ = collector.wait();
    assert_eq!(
        missing,
        0,
        "acknowledged events lost, of {} ({during} during the outage)",
        acked.len()
    );
}
