//! Telemetry of the function: traces and metrics with the OpenTelemetry SDK, exported over
//! OTLP/HTTP to the sidecar in the same sandbox, and structured logs on stdout.
//!
//! - [`logging`]: the `tracing` subscriber (Lambda's log format and level; OTel bridge).
//! - [`resource`]: who is reporting (service, function, region…).
//! - [`invocation`]: the SERVER span and request metrics of each invocation.
//! - [`aws_sdk`]: a CLIENT span and a duration metric for every AWS SDK call.
//! - [`propagation`]: the parent trace (W3C `traceparent`, else X-Ray).
//! - [`handoff`]: export everything before the runtime asks Lambda for the next event.
//! - [`metrics`]: the instruments.

pub mod aws_sdk;
pub mod handoff;
pub mod invocation;
pub mod logging;
pub mod metrics;
pub mod propagation;
pub mod resource;

use crate::config::TelemetrySettings;
use opentelemetry_http::HttpClient;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Instrumentation scope of everything the function reports.
pub const SCOPE: &str = "aws-rust-http-api";

/// Periodic metric export is a fallback only: every invocation flushes (see [`handoff`]).
const METRICS_FALLBACK_INTERVAL: Duration = Duration::from_secs(3600);

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("building the OTLP {signal} exporter: {source}")]
    Exporter {
        signal: &'static str,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("building the HTTP client for the hand-off: {0}")]
    HttpClient(String),
    #[error("installing the tracing subscriber: {0}")]
    Subscriber(String),
}

/// The SDK providers (absent when `OTEL_SDK_DISABLED=true`) and the hand-off state.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    failure_reported: AtomicBool,
    /// The hand-off's HTTP client and the sidecar's base URL, for the explicit "finished" signal.
    sidecar: Option<(reqwest::blocking::Client, String)>,
}

impl Telemetry {
    /// Builds the exporters and providers. No network I/O happens here. Call it outside the async
    /// runtime: the blocking HTTP client runs its own.
    pub fn new(settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
        if !settings.enabled {
            return Ok(Telemetry::disabled());
        }
        // One HTTP client (and its one background thread) for both exporters and the signal.
        let client = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| TelemetryError::HttpClient(e.to_string()))?;
        let http_client: Arc<dyn HttpClient> = Arc::new(client.clone());
        let resource = resource::detect(
            settings.service_name.as_deref(),
            settings.function_name.as_deref(),
        );
        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_shared_http_client(http_client.clone())
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", settings.endpoint))
            .with_timeout(settings.timeout)
            .build()
            .map_err(|source| TelemetryError::Exporter {
                signal: "traces",
                source,
            })?;
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_shared_http_client(http_client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/metrics", settings.endpoint))
            .with_timeout(settings.timeout)
            .build()
            .map_err(|source| TelemetryError::Exporter {
                signal: "metrics",
                source,
            })?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(span_exporter).build())
            .with_resource(resource.clone())
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(metric_exporter)
                    .with_interval(METRICS_FALLBACK_INTERVAL)
                    .build(),
            )
            .with_resource(resource)
            .build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        Ok(Telemetry {
            tracer_provider: Some(tracer_provider),
            meter_provider: Some(meter_provider),
            failure_reported: AtomicBool::new(false),
            sidecar: Some((client, settings.endpoint.trim_end_matches('/').to_owned())),
        })
    }

    /// Telemetry off: spans and metrics go nowhere, hand-offs are free.
    pub fn disabled() -> Telemetry {
        Telemetry {
            tracer_provider: None,
            meter_provider: None,
            failure_reported: AtomicBool::new(false),
            sidecar: None,
        }
    }

    /// The tracer provider, for the `tracing` bridge.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// Exports everything recorded so far: metrics first, then traces, so that the trace request
    /// (which carries the invocation's SERVER span) is the sidecar's sign that the invocation's
    /// telemetry is complete. Blocking; bounded by the exporters' timeout.
    pub fn flush_blocking(&self) {
        let mut failures = Vec::new();
        if let Some(meters) = &self.meter_provider
            && let Err(error) = meters.force_flush()
        {
            failures.push(("metrics", error.to_string()));
        }
        if let Some(tracer) = &self.tracer_provider
            && let Err(error) = tracer.force_flush()
        {
            failures.push(("traces", error.to_string()));
        }
        for (signal, error) in failures {
            if !self.failure_reported.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    signal,
                    %error,
                    "telemetry hand-off to the sidecar failed; requests are still served, \
                     telemetry is lost until the sidecar answers (reported once)"
                );
            } else {
                tracing::debug!(signal, %error, "telemetry hand-off failed");
            }
        }
    }

    /// Tells the sidecar that invocation `request_id` is over although it exported no SERVER span (its
    /// trace was not sampled). Blocking, bounded by the hand-off timeout; a failure is only logged at
    /// debug level (the sidecar's wait is bounded anyway).
    pub fn signal_finished(&self, request_id: &str) {
        let Some((client, endpoint)) = &self.sidecar else {
            return;
        };
        let url = format!("{endpoint}/otel-sidecar/v1/invocations/{request_id}/finished");
        match client.post(&url).send() {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::debug!(
                    status = response.status().as_u16(),
                    "finished signal refused"
                )
            }
            Err(error) => tracing::debug!(%error, "finished signal failed"),
        }
    }

    /// Flushes and stops the exporters (at SIGTERM).
    pub fn shutdown(&self) {
        self.flush_blocking();
        if let Some(tracer) = &self.tracer_provider {
            let _ = tracer.shutdown();
        }
        if let Some(meters) = &self.meter_provider {
            let _ = meters.shutdown();
        }
    }
}
