//! The `tracing` subscriber: logs to stdout in Lambda's format (`AWS_LAMBDA_LOG_FORMAT` JSON or
//! Text) at Lambda's level (`AWS_LAMBDA_LOG_LEVEL`), and the function's own spans bridged to
//! OpenTelemetry.
//!
//! Every line logged during an invocation carries its spans' fields: the runtime's
//! `requestId` / `xrayTraceId` and the invocation span's `faas.invocation_id` / `trace_id` / `span_id`
//! (the W3C ids the OTLP backend shows). Only spans of this crate go to OpenTelemetry: the SDK's
//! and the HTTP stack's internal spans would be noise, and the exporter's own would loop.

use super::{SCOPE, TelemetryError};
use crate::config::LogSettings;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Installs the global subscriber.
pub fn init(
    settings: &LogSettings,
    tracer_provider: Option<&SdkTracerProvider>,
) -> Result<(), TelemetryError> {
    let log_filter = EnvFilter::try_new(&settings.filter)
        .or_else(|_| EnvFilter::try_new("info"))
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .with_target(false);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = if settings.json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(log_filter)
            .boxed()
    } else {
        fmt.with_filter(log_filter).boxed()
    };
    let otel = tracer_provider.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SCOPE))
            .with_filter(Targets::new().with_target(env!("CARGO_CRATE_NAME"), Level::INFO))
    });
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))
}
