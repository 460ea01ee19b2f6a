//! OTLP/HTTP protobuf exporter: one POST per signal batch to that signal's URL, with that signal's headers,
//! compression and per-request timeout (see [`crate::config::SignalExport`]), retries per [`super::retry`],
//! partial-success responses read and counted.
//!
//! The HTTP client (and its TLS roots) is built at the first export, never during Lambda init.

use super::retry::{Disposition, backoff, classify, parse_retry_after};
use crate::config::{ExporterConfig, SignalExport};
use crate::pipeline::stats::Stats;
use crate::pipeline::{PerSignal, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use reqwest::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The result of sending one batch, retries included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The backend accepted the request; `rejected` items were refused in a partial success.
    Delivered {
        /// Items the backend reported as rejected.
        rejected: u64,
    },
    /// Gave up for now on a retryable failure: keep the data for a later flush.
    Retryable(String),
    /// The backend refused the data for good (e.g. 400, 401): drop it, counted as rejected.
    Permanent(String),
}

/// Sends batches to the configured OTLP/HTTP endpoints.
#[derive(Debug)]
pub struct OtlpExporter {
    config: ExporterConfig,
    http: OnceLock<Result<Http, String>>,
    stats: Arc<Stats>,
}

/// The HTTP client and each signal's request headers, built at the first export.
#[derive(Debug)]
struct Http {
    client: reqwest::Client,
    headers: PerSignal<HeaderMap>,
}

impl OtlpExporter {
    /// An exporter for `config`; no connection or TLS setup happens until the first send.
    pub fn new(config: ExporterConfig, stats: Arc<Stats>) -> Self {
        Self {
            config,
            http: OnceLock::new(),
            stats,
        }
    }

    fn http(&self) -> Result<&Http, String> {
        self.http
            .get_or_init(|| {
                let client = reqwest::Client::builder()
                    .user_agent(concat!("otel-sidecar/", env!("CARGO_PKG_VERSION")))
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
                Ok(Http {
                    client,
                    headers: PerSignal::try_from_fn(|signal| header_map(self.settings(signal)))?,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn settings(&self, signal: Signal) -> &SignalExport {
        match signal {
            Signal::Traces => &self.config.traces,
            Signal::Metrics => &self.config.metrics,
            Signal::Logs => &self.config.logs,
        }
    }

    /// Sends one encoded Export*ServiceRequest, retrying while attempts remain and the next try can start
    /// before `deadline` (if any).
    pub async fn send(
        &self,
        signal: Signal,
        body: Vec<u8>,
        deadline: Option<Instant>,
    ) -> SendOutcome {
        let started = Instant::now();
        let outcome = self.send_with_retries(signal, body, deadline).await;
        self.stats.record_export(
            started.elapsed(),
            matches!(outcome, SendOutcome::Delivered { .. }),
        );
        outcome
    }

    async fn send_with_retries(
        &self,
        signal: Signal,
        body: Vec<u8>,
        deadline: Option<Instant>,
    ) -> SendOutcome {
        let http = match self.http() {
            Ok(http) => http,
            Err(reason) => return SendOutcome::Permanent(reason),
        };
        let settings = self.settings(signal);
        let headers = &http.headers[signal];
        let (body, encoding) = if settings.gzip {
            match gzip(&body) {
                Ok(compressed) => (compressed, Some("gzip")),
                Err(error) => return SendOutcome::Permanent(format!("gzip failed: {error}")),
            }
        } else {
            (body, None)
        };
        let body = bytes::Bytes::from(body);
        let policy = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut timeout = settings.timeout;
            if let Some(deadline) = deadline {
                timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
                if timeout.is_zero() {
                    return SendOutcome::Retryable("deadline reached before sending".into());
                }
            }
            let mut request = http
                .client
                .post(&settings.url)
                .headers(headers.clone())
                .timeout(timeout)
                .body(body.clone());
            if let Some(encoding) = encoding {
                request = request.header(CONTENT_ENCODING, encoding);
            }
            let (reason, retry_after) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match classify(status) {
                        Disposition::Delivered => {
                            let payload = response.bytes().await.unwrap_or_default();
                            return SendOutcome::Delivered {
                                rejected: partial_success(signal, &payload),
                            };
                        }
                        Disposition::Permanent => {
                            let text = response.text().await.unwrap_or_default();
                            let snippet: String = text.chars().take(200).collect();
                            return SendOutcome::Permanent(format!("HTTP {status}: {snippet}"));
                        }
                        Disposition::Retry => {
                            let retry_after = response
                                .headers()
                                .get(RETRY_AFTER)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| parse_retry_after(v, SystemTime::now()));
                            (format!("HTTP {status}"), retry_after)
                        }
                    }
                }
                // Connection refused/reset, timeouts, DNS: all worth another try.
                Err(error) => (describe(&error), None),
            };
            if attempt >= policy.max_attempts {
                return SendOutcome::Retryable(format!("{reason} after {attempt} attempts"));
            }
            let wait = backoff(attempt - 1, &policy, rand::random::<f64>(), retry_after);
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                return SendOutcome::Retryable(format!("{reason}; no time left to retry"));
            }
            tracing::debug!(message = "export retry scheduled", signal = signal.as_str(), attempt, wait_ms = wait.as_millis() as u64, reason = %reason);
            self.stats.record_retry();
            tokio::time::sleep(wait).await;
        }
    }
}

/// The request headers of one signal: its configured headers (values marked sensitive) and the content type.
fn header_map(settings: &SignalExport) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &settings.headers.0 {
        // Validated when the config was loaded; a failure here would be a bug, reported without the value.
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name}"))?;
        let mut value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(headers)
}

/// Rejected item count of a partial-success response (0 if absent or unreadable).
fn partial_success(signal: Signal, body: &[u8]) -> u64 {
    let (rejected, message) = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_spans, p.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_log_records, p.error_message)),
    }
    .unwrap_or_default();
    if rejected > 0 || !message.is_empty() {
        tracing::warn!(message = "backend reported a partial success", signal = signal.as_str(), rejected, reason = %message);
    }
    u64::try_from(rejected).unwrap_or(0)
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // reqwest's Display includes the URL but never header values.
    format!("{kind}: {error}")
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(data)?;
    encoder.finish()
}
