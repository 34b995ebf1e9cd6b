//! The harness's HTTP client: posting batches to collectors and scraping metrics, over
//! keep-alive connections.
//!
//! Contract: [`Connection::post`] sends one `POST` with a JSON body and the write key as
//! a bearer token, and returns the status code and body whatever the status
//! ([`Connection::get`] likewise a `GET`, for metrics); transport errors are
//! `io::Error`s. It is `ureq` (blocking, one agent per driver thread, which keeps its
//! connection alive): the drivers are plain threads, so a blocking client keeps them
//! simple, and `ureq` replaced a hand-written HTTP/1.1 client here.

use std::time::Duration;

/// The longest one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one collector.
pub struct Connection {
    base: String,
    authorization: String,
    agent: ureq::Agent,
}

impl Connection {
    /// A client of `address` (`host:port`); connections open on first use.
    pub fn new(address: &str, write_key: &str) -> Connection {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Connection {
            base: format!("http://{address}"),
            authorization: format!("Bearer {write_key}"),
            agent,
        }
    }

    /// Posts `body` to `path`: `(status, response body)`.
    pub fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        let sent = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .content_type("application/json")
            .send(body);
        answer(sent)
    }

    /// Gets `path`: `(status, response body)`.
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        answer(self.agent.get(format!("{}{path}", self.base)).call())
    }
}

/// The status and body of a response, or the transport's error.
fn answer(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> std::io::Result<(u16, String)> {
    let mut response = sent.map_err(std::io::Error::other)?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(std::io::Error::other)?;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
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
