//! The web console's pages: one HTML page, its script and its style, embedded in the
//! binary (nothing is downloaded at run time).
//!
//! Contract: `/` serves the page; `/assets/console.js` and `/assets/console.css` its
//! assets, with a strict Content-Security-Policy (scripts and styles from this origin
//! only) and no caching of the page itself. The page is a client of the JSON API: it
//! signs in through `/api/session` and reads and writes nothing else.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const PAGE: &str = include_str!("../assets/console.html");
const SCRIPT: &str = include_str!("../assets/console.js");
const STYLE: &str = include_str!("../assets/console.css");

/// The policy every page answer carries.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The pages' routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", PAGE) }))
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/assets/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}
