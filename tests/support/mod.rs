//! Running the `segstream` binary from integration tests, and scratch files for them.
#![allow(dead_code)]

pub mod deployment;
pub mod lookup;
pub mod moto;
pub mod process;
pub mod scenario;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Runs `segstream` with `args` in the project directory.
pub fn segstream(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!("cannot run segstream: {e}"),
    }
}

/// Runs `segstream` with `args`, which must succeed; its standard output.
pub fn segstream_ok(args: &[&str]) -> String {
    let out = segstream(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "segstream {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A path in this test binary's scratch directory `dir`.
pub fn scratch_path(dir: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir.join(name)
}

/// Polls `check` every `every` until it gives a value; after `within`, fails with what
/// the last attempt said. Tests wait on conditions this way, never for a fixed time.
pub fn poll_until<T>(within: Duration, every: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        match check() {
            Ok(value) => return value,
            Err(why) => assert!(std::time::Instant::now() < deadline, "gave up after {within:?}: {why}"),
        }
        std::thread::sleep(every);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// One HTTP/1.1 POST with write key `wk`: the status line and headers, and the body.
pub fn try_post(port: u16, path: &str, body: &str) -> std::io::Result<(String, String)> {
    http(port, "POST", path, "wk", &[], Some(body))
}

/// One HTTP/1.1 request with bearer `token`, `extra` headers and a JSON body: the
/// status line and headers, and the body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((head.to_string(), body.to_string()))
}

/// The "N late" count of a classifier summary line (`done: … N late, …`) in `text`.
pub fn late_count(text: &str) -> u64 {
    text.split(", ")
        .find_map(|part| part.strip_suffix(" late")?.parse().ok())
        .unwrap_or_else(|| panic!("no late count in:\n{text}"))
}
