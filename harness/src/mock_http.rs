//! A minimal HTTP/1.1 server for the harness's unit tests.
//!
//! Contract: [`serve`] binds an ephemeral loopback port and answers every request, on
//! kept-alive connections, with `answer(body)` (status and text); it returns the
//! `host:port`. The thread runs until the test process ends.

use std::io::{BufRead, BufReader, Read, Write};

/// Serves `answer` on a fresh port (see the module contract).
pub fn serve(answer: impl Fn(&str) -> (u16, String) + Send + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            'requests: loop {
                let (mut line, mut length) = (String::new(), 0);
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break 'requests;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let (status, text) = answer(&String::from_utf8_lossy(&body));
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{text}", text.len());
                if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    address
}
