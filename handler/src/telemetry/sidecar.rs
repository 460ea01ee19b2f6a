//! The function's HTTP client for the sidecar: an async `reqwest` client on the runtime's own thread
//! (no client thread to wake), one attempt per request, bounded by the hand-off timeout, keeping its
//! loopback connection open between hand-offs. A transport error is classified for the breaker.

use super::breaker::Failure;
use std::time::Duration;

/// The HTTP client that hands telemetry off to the sidecar: pooled kept-alive connections, each request
/// bounded by `OTEL_SIDECAR_TIMEOUT_MS`.
#[derive(Debug)]
pub struct SidecarClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl SidecarClient {
    /// A client whose every request (connect included) ends within `timeout`.
    pub fn new(timeout: Duration) -> Result<SidecarClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The sidecar is on loopback: a proxy from the environment must not intercept it.
            .no_proxy()
            .tcp_nodelay(true)
            .build()?;
        Ok(SidecarClient { http, timeout })
    }

    /// `POST url` with `body` (of `content_type`, if any); `Ok(status)` once the whole answer is read (so
    /// that the connection goes back to the pool for the next hand-off).
    pub async fn post(
        &self,
        url: &str,
        content_type: Option<&'static str>,
        body: bytes::Bytes,
    ) -> Result<u16, Failure> {
        let mut request = self.http.post(url).body(body);
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let response = request.send().await.map_err(|e| self.failure(&e))?;
        let status = response.status().as_u16();
        response.bytes().await.map_err(|e| self.failure(&e))?;
        Ok(status)
    }

    /// Classifies a transport error.
    fn failure(&self, error: &reqwest::Error) -> Failure {
        if error.is_timeout() {
            Failure::TimedOut(self.timeout)
        } else if error.is_connect() {
            Failure::Unreachable(error_chain(error))
        } else {
            Failure::Other(error_chain(error))
        }
    }
}

/// An error and its causes on one line ("error sending request: … : Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
