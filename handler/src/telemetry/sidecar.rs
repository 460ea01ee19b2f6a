//! The function's HTTP client for the sidecar: an async `reqwest` client on the runtime's own thread
//! (no client thread to wake), one attempt per request, bounded by the hand-off timeout. It remembers
//! why the last request failed, so that the breaker can say it (the OTLP exporter reduces transport
//! errors to "network error").

use super::breaker::Failure;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SidecarClient {
    http: reqwest::Client,
    timeout: Duration,
    last_failure: Mutex<Option<Failure>>,
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
        Ok(SidecarClient {
            http,
            timeout,
            last_failure: Mutex::new(None),
        })
    }

    /// Why the last failed request failed, if it has not been taken yet.
    pub fn take_failure(&self) -> Option<Failure> {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn note(&self, failure: Failure) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(failure);
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

    /// `POST url` with an empty body; `Ok(status)` when the sidecar answered.
    pub async fn post_empty(&self, url: &str) -> Result<u16, Failure> {
        match self.http.post(url).send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(self.failure(&error)),
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for SidecarClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let result = self.http.send_bytes(request).await;
        match &result {
            Ok(response) if !response.status().is_success() => {
                self.note(Failure::Status(response.status().as_u16()))
            }
            Ok(_) => {}
            Err(error) => match error.downcast_ref::<reqwest::Error>() {
                Some(error) => self.note(self.failure(error)),
                None => self.note(Failure::Other(error.to_string())),
            },
        }
        result
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
