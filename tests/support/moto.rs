//! A private moto server (an S3-compatible server from PyPI, installed by
//! `scripts/services start`) on an ephemeral loopback port, stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use segstream_lake::location::TableLocation;

use super::process::Running;
use super::{free_port, poll_until};

/// A running moto server.
pub struct Moto {
    _process: Running,
    port: u16,
}

/// Where `scripts/services` installs `moto_server`, unless `SEGSTREAM_MOTO_SERVER` names it.
fn program() -> PathBuf {
    if let Ok(path) = std::env::var("SEGSTREAM_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let services = std::env::var("SEGSTREAM_SERVICES_DIR").unwrap_or_else(|_| "target/services".into());
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(services)
        .join("moto/bin/moto_server")
}

/// Sends one unsigned request; the status line.
fn request(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_string())
}

impl Moto {
    /// Starts a server and waits until it answers.
    pub fn start() -> Moto {
        let program = program();
        assert!(
            program.exists(),
            "{} is missing: `scripts/services start` installs moto (pip) there",
            program.display()
        );
        let port = free_port();
        let process = Running::start(&program.display().to_string(), &["-H", "127.0.0.1", "-p", &port.to_string()]);
        poll_until(Duration::from_secs(60), Duration::from_millis(100), || {
            request(port, "GET", "/").map_err(|e| format!("moto on {port}: {e}; output: {:?}", process.lines()))
        });
        Moto { _process: process, port }
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let status = request(self.port, "PUT", &format!("/{bucket}")).unwrap_or_else(|e| panic!("{e}"));
        assert!(status.contains(" 200"), "creating bucket {bucket}: {status}");
    }

    /// The server's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a `segstream` process needs to use this server.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// `s3://{path}` on this server.
    pub fn location(&self, path: &str) -> TableLocation {
        s3_location(path, &self.endpoint())
    }
}

/// The store settings (`object_store`'s names) for the server at `endpoint`, with test
/// credentials.
pub fn store_settings(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("aws_endpoint", endpoint.to_string()),
        ("aws_access_key_id", "testing".into()),
        ("aws_secret_access_key", "testing".into()),
        ("aws_region", "us-east-1".into()),
        ("aws_allow_http", "true".into()),
    ]
}

/// `s3://{path}` at `endpoint`, with test credentials.
pub fn s3_location(path: &str, endpoint: &str) -> TableLocation {
    let parsed = TableLocation::parse(&format!("s3://{path}")).unwrap_or_else(|e| panic!("{e}"));
    store_settings(endpoint)
        .into_iter()
        .fold(parsed, |location, (key, value)| location.with_option(key, &value))
}
