//! Telemetry of the function: traces and metrics with the OpenTelemetry SDK, exported over
//! OTLP/HTTP to the sidecar in the same sandbox, and structured logs on stdout.
//!
//! - [`logging`]: the `tracing` subscriber (Lambda's log format and level; OTel bridge).
//! - [`resource`]: who is reporting (service, function, region…).
//! - [`invocation`]: the SERVER span and request metrics of each invocation.
//! - [`aws_sdk`]: a CLIENT span and a duration metric for every AWS SDK call.
//! - [`propagation`]: the parent trace (W3C `traceparent`, else X-Ray).
//! - [`handoff`]: export everything before the runtime asks Lambda for the next event.
//! - [`delivery`]: what one hand-off sends, behind the [`breaker`].
//! - `link`: how a hand-off goes over the wire (one request or plain OTLP; its answer awaited or read at
//!   the next hand-off).
//! - [`breaker`]: skip the hand-off while the sidecar does not answer; probe at a bounded rate.
//! - [`spans`]: ended spans wait for the hand-off in a bounded queue.
//! - [`sidecar`]: the connection to the sidecar, which writes a request now and reads its answer later.
//! - [`metrics`]: the instruments.

pub mod aws_sdk;
pub mod breaker;
pub mod delivery;
pub mod handoff;
pub mod invocation;
mod link;
pub mod logging;
pub mod metrics;
pub mod propagation;
pub mod resource;
pub mod sidecar;
pub mod spans;

use crate::config::TelemetrySettings;
use breaker::{Breaker, Policy};
use delivery::{Delivery, Ending, Outcome};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use spans::{QueueingProcessor, SpanQueue};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Instrumentation scope of everything the function reports.
pub const SCOPE: &str = "aws-rust-http-api";

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A global `tracing` subscriber was already installed.
    #[error("installing the tracing subscriber: {0}")]
    Subscriber(String),
}

/// The SDK providers and the hand-off (all absent when `OTEL_SDK_DISABLED=true`).
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    delivery: Option<Delivery>,
}

impl Telemetry {
    /// Builds the providers and the hand-off. No network I/O happens here.
    pub fn new(settings: &TelemetrySettings) -> Telemetry {
        if !settings.enabled {
            return Telemetry::disabled();
        }
        let resource = resource::detect(
            settings.service_name.as_deref(),
            settings.function_name.as_deref(),
        );
        let spans = SpanQueue::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(QueueingProcessor::new(spans.clone()))
            .with_resource(resource.clone())
            .build();
        // The reader decides what the SDK aggregates: cumulative, or what
        // OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE asks for.
        let reader = Arc::new(
            ManualReader::builder()
                .with_temporality(settings.metrics_temporality)
                .build(),
        );
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(SharedReader(reader.clone()))
            .with_resource(resource.clone())
            .build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        Telemetry {
            tracer_provider: Some(tracer_provider),
            meter_provider: Some(meter_provider),
            delivery: Some(Delivery::new(
                spans,
                reader,
                &resource,
                settings.endpoint.clone(),
                settings.timeout,
                Breaker::new(Policy::default()),
            )),
        }
    }

    /// Telemetry off: spans and metrics go nowhere, hand-offs are free.
    pub fn disabled() -> Telemetry {
        Telemetry {
            tracer_provider: None,
            meter_provider: None,
            delivery: None,
        }
    }

    /// The tracer provider, for the `tracing` bridge.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// Exports everything recorded so far (see [`delivery`]), and tells the sidecar that invocation
    /// `ending` is over, if it is. `None` when telemetry is off.
    pub async fn hand_off(&self, ending: Option<Ending<'_>>) -> Option<Outcome> {
        match &self.delivery {
            Some(delivery) => Some(delivery.hand_off(ending).await),
            None => None,
        }
    }

    /// Hands off what is left and stops the providers (at SIGTERM).
    pub async fn shutdown(&self) {
        self.hand_off(None).await;
        if let Some(tracer) = &self.tracer_provider {
            let _ = tracer.shutdown();
        }
        if let Some(meters) = &self.meter_provider {
            let _ = meters.shutdown();
        }
    }
}

/// The meter provider's reader, shared with the hand-off, which collects from it on demand.
#[derive(Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}
