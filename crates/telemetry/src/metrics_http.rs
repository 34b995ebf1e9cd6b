//! Serving a component's metrics to Prometheus (and other read-only pages).
//!
//! Contract: [`serve`] answers `GET /metrics` on a listener from a background thread
//! with whatever `render` returns (the Prometheus text exposition format, version
//! 0.0.4); [`serve_routes`] answers several paths, each with its content type; any
//! other path is 404. It runs until the process ends; a failing connection only
//! affects that connection.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// A page: its path, content type and renderer.
pub struct Route {
    /// The path, e.g. `/metrics`.
    pub path: &'static str,
    /// The content type of the answer.
    pub content_type: &'static str,
    /// Renders the body.
    pub render: Box<dyn Fn() -> String + Send>,
}

/// The Prometheus text format's content type.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// Answers `GET /metrics` on `listener` from a background thread.
pub fn serve(listener: TcpListener, render: impl Fn() -> String + Send + 'static) {
    serve_routes(
        listener,
        vec![Route {
            path: "/metrics",
            content_type: PROMETHEUS_TEXT,
            render: Box::new(render),
        }],
    );
}

/// Answers `GET` of each route's path on `listener` from a background thread.
pub fn serve_routes(listener: TcpListener, routes: Vec<Route>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let head = read_head(&mut stream);
            let route = routes.iter().find(|r| head.starts_with(&format!("GET {} ", r.path)));
            let response = match route {
                Some(route) => {
                    let body = (route.render)();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        route.content_type,
                        body.len()
                    )
                }
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
}

/// The request head (up to the blank line, 4 KiB at most), however it is split into
/// packets; whatever arrived when the client stops sending or times out.
fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while head.len() < 4096 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        // Sent in two pieces, as a client may: the server reads the whole head.
        stream.write_all(format!("GET {path} HTTP/1.1\r\n").as_bytes()).unwrap();
        stream.flush().unwrap();
        std::thread::yield_now();
        stream.write_all(b"Host: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn metrics_are_served_and_other_paths_are_not_found() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve(listener, || "up 1\n".to_string());
        let metrics = get(addr, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
        assert!(metrics.ends_with("\r\n\r\nup 1\n"), "{metrics}");
        assert!(get(addr, "/other").starts_with("HTTP/1.1 404"));
    }
}
