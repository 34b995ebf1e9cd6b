//! A minimal HTTP/1.1 client for posting batches to collectors over keep-alive
//! connections.
//!
//! Contract: [`Connection::post`] sends one `POST` with a JSON body and the write key as
//! a bearer token, and returns the status code and body ([`Connection::get`] likewise a
//! `GET`, for metrics). Responses must carry
//! `Content-Length` (the collector's do); the connection is reopened after any error or
//! a `Connection: close`. Loopback load tests need nothing more, and the harness's own
//! CPU, which shares the machine with the system under test, stays small.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One keep-alive connection to a collector.
pub struct Connection {
    address: String,
    write_key: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    /// A connection to `address` (`host:port`), opened on first use.
    pub fn new(address: &str, write_key: &str) -> Connection {
        Connection {
            address: address.to_string(),
            write_key: write_key.to_string(),
            stream: None,
        }
    }

    fn open(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.stream = Some(BufReader::new(stream));
        }
        self.stream.as_mut().ok_or_else(|| std::io::Error::other("no connection"))
    }

    /// Posts `body` to `path`: `(status, response body)`.
    pub fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        self.request("POST", path, body)
    }

    /// Gets `path`: `(status, response body)`.
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        self.request("GET", path, b"")
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        let result = self.exchange(method, path, body);
        if !matches!(&result, Ok((_, _, true))) {
            self.stream = None;
        }
        result.map(|(status, text, _)| (status, text))
    }

    /// One request and response; the flag says whether the connection may be reused.
    fn exchange(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String, bool)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.address,
            self.write_key,
            body.len()
        );
        let stream = self.open()?;
        stream.get_mut().write_all(head.as_bytes())?;
        stream.get_mut().write_all(body)?;
        let mut line = String::new();
        stream.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {line:?}")))?;
        let (mut length, mut keep) = (None, true);
        loop {
            line.clear();
            if stream.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("the connection closed in the headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    keep = false;
                }
            }
        }
        let length = length.ok_or_else(|| std::io::Error::other("a response without Content-Length"))?;
        let mut text = vec![0; length];
        stream.read_exact(&mut text)?;
        Ok((status, String::from_utf8_lossy(&text).into_owned(), keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn posts_reuse_the_connection_and_read_the_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut bodies = Vec::new();
            for _ in 0..2 {
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                bodies.push(String::from_utf8(body).unwrap());
                let answer = "{\"ok\":1}";
                write!(
                    reader.get_mut(),
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
            bodies
        });
        let mut connection = Connection::new(&address, "wk");
        assert_eq!(connection.post("/v1/batch", b"{\"a\":1}").unwrap(), (200, "{\"ok\":1}".into()));
        assert_eq!(connection.post("/v1/batch", b"[2]").unwrap().0, 200);
        assert_eq!(server.join().unwrap(), vec!["{\"a\":1}".to_string(), "[2]".to_string()]);
        assert!(Connection::new("127.0.0.1:1", "wk").post("/", b"").is_err());
    }
}
