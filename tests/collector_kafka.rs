//! `segstream collector` against the real broker: acknowledged events are in the
//! events topic, rejected ones in failed-events; with no broker, 503 and Retry-After.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::deployment::{self, Deployment, SERVICES};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(d: &Deployment, port: u16, env: &[(&str, &str)]) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["collector", "--config", d.config_arg(), "--listen", &format!("127.0.0.1:{port}")])
        .args(["--write-key", "wk", "--publish-timeout", "2s"])
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

/// One HTTP/1.1 request; returns the status line and the body.
fn post(port: u16, path: &str, body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wk\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
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
    let mut collector = start(&d, port, &[]);
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
fn without_a_broker_requests_are_refused_with_retry_after() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("collector-nobroker", 1, "");
    let port = free_port();
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut collector = start(&d, port, &[("SEGSTREAM__KAFKA__BROKERS", nowhere.as_str())]);
    let (head, body) = post(port, "/v1/batch", &batch(&d));
    let _ = collector.kill();
    let _ = collector.wait();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 5"), "{head}");
    assert!(deployment::read_all(&d.events).is_empty());
}
