//! The HTTP client the partner pipelines share: keep-alive connections per partner
//! host, a timeout per request, and an answer reduced to what a verdict needs.
//!
//! Contract: [`HttpClient::send`] sends one request and returns the status, the
//! `Retry-After` header and up to 64 KiB of the body, or an error string for a
//! connection failure or a timeout (the caller retries those). It never panics on what
//! a partner answers.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The most of a response body that is read.
const MAX_RESPONSE_BYTES: usize = 64 << 10;

/// One request to a partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerRequest {
    /// `POST` or `DELETE`.
    pub method: &'static str,
    /// Where.
    pub url: String,
    /// Extra headers (content type is JSON).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerResponse {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body (at most 64 KiB), lossily as text.
    pub body: String,
}

/// A pooled HTTP/1.1 client.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        HttpClient {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }
}

impl HttpClient {
    /// Sends `request`, waiting at most `timeout` for the whole answer.
    pub async fn send(&self, request: &PartnerRequest, timeout: Duration) -> Result<PartnerResponse, String> {
        let mut builder = Request::builder()
            .method(request.method)
            .uri(&request.url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("segstream-activator/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| format!("building the request to {}: {e}", request.url))?;
        let exchange = async {
            let response = self
                .client
                .request(http_request)
                .await
                .map_err(|e| format!("{}: {e}", request.url))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_else(|e| format!("(unreadable body: {e})"));
            Ok(PartnerResponse { status, retry_after, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("{}: no answer within {timeout:?}", request.url)),
        }
    }
}
