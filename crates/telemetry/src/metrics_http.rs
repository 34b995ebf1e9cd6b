//! Serving a component's metrics to Prometheus (and other read-only pages) over HTTP.
//!
//! Contract: [`serve`] answers `GET /metrics` with an [`Exposition`] in the Prometheus
//! text format; [`serve_routes`] answers several paths, each with its content type; any
//! other path is 404. Both run an axum server on a listener the caller has bound, on a
//! background thread with its own single-threaded runtime (a scrape every few seconds
//! needs no more), until the process ends. A failing connection only affects that
//! connection; a server that cannot start is logged, not fatal to the component.

use std::net::TcpListener;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

use crate::exposition::{self, Exposition};

/// A page: its path, content type and renderer.
pub struct Route {
    /// The path, e.g. `/metrics`.
    pub path: &'static str,
    /// The content type of the answer.
    pub content_type: &'static str,
    /// Renders the body.
    pub render: Box<dyn Fn() -> String + Send + Sync>,
}

/// The Prometheus text format's content type.
pub const PROMETHEUS_TEXT: &str = exposition::CONTENT_TYPE;

/// The route of an exposition at `/metrics`.
pub fn metrics_route(exposition: Exposition) -> Route {
    Route {
        path: "/metrics",
        content_type: PROMETHEUS_TEXT,
        render: Box::new(move || exposition.render()),
    }
}

/// Answers `GET /metrics` on `listener` from a background thread.
pub fn serve(listener: TcpListener, exposition: Exposition) {
    serve_routes(listener, vec![metrics_route(exposition)]);
}

/// The router answering each route's path (testable without a server).
pub fn app(routes: Vec<Route>) -> Router {
    routes.into_iter().fold(Router::new(), |router, route| {
        let route = Arc::new(route);
        let path = route.path;
        router.route(
            path,
            get(move || {
                let route = Arc::clone(&route);
                async move { ([(CONTENT_TYPE, route.content_type)], (route.render)()) }
            }),
        )
    })
}

/// Answers `GET` of each route's path on `listener` from a background thread.
pub fn serve_routes(listener: TcpListener, routes: Vec<Route>) {
    let router = app(routes);
    std::thread::spawn(move || {
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let served = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .and_then(|runtime| {
                runtime.block_on(async move {
                    listener.set_nonblocking(true)?;
                    axum::serve(tokio::net::TcpListener::from_std(listener)?, router).await
                })
            });
        if let Err(e) = served {
            tracing::error!(%address, error = %e, "the metrics server stopped");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{counter, Collector, DescriptorEncoder};
    use std::io::{Read, Write};

    #[derive(Debug)]
    struct Up;

    impl Collector for Up {
        fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
            counter(&mut encoder, "up_total", "Up.", 1)
        }
    }

    fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        // Sent in two pieces, as a client may: the server reads the whole head.
        stream.write_all(format!("GET {path} HTTP/1.1\r\n").as_bytes()).unwrap();
        stream.flush().unwrap();
        std::thread::yield_now();
        stream.write_all(b"Host: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn metrics_are_served_and_other_paths_are_not_found() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve(listener, Exposition::of(Up));
        let metrics = get(addr, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
        assert!(metrics.contains("content-type: text/plain; version=0.0.4"), "{metrics}");
        assert!(
            metrics.ends_with("\r\n\r\n# HELP up_total Up.\n# TYPE up_total counter\nup_total 1\n"),
            "{metrics}"
        );
        assert!(get(addr, "/other").starts_with("HTTP/1.1 404"));
    }
}
