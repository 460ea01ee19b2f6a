//! Small builders for the OTLP values the Telemetry API side produces: ids, and the resource/scope
//! wrapping of spans, metrics and log records (attribute builders re-exported from the pipeline).

use crate::pipeline::Payload;
pub use crate::pipeline::attributes::{boolean, double, int, string};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// Instrumentation scope of everything derived from the Telemetry API.
pub const SCOPE: &str = "otel-sidecar/telemetry-api";

/// A random, valid (non-zero) span id.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id = rand::random::<[u8; 8]>();
        if id != [0; 8] {
            return id;
        }
    }
}

/// A random, valid (non-zero) trace id.
pub fn new_trace_id() -> [u8; 16] {
    loop {
        let id = rand::random::<[u8; 16]>();
        if id != [0; 16] {
            return id;
        }
    }
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: SCOPE.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

/// Spans as a traces payload (the resource is filled in by the enricher at export).
pub fn traces(spans: Vec<Span>) -> Payload {
    Payload::Traces(vec![ResourceSpans {
        resource: None,
        scope_spans: vec![ScopeSpans {
            scope: scope(),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }])
}

/// Metrics as a metrics payload.
pub fn metrics(metrics: Vec<Metric>) -> Payload {
    Payload::Metrics(vec![ResourceMetrics {
        resource: None,
        scope_metrics: vec![ScopeMetrics {
            scope: scope(),
            metrics,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }])
}

/// Log records as a logs payload.
pub fn logs(log_records: Vec<LogRecord>) -> Payload {
    Payload::Logs(vec![ResourceLogs {
        resource: None,
        scope_logs: vec![ScopeLogs {
            scope: scope(),
            log_records,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }])
}

/// Milliseconds (as Lambda reports them) to nanoseconds.
pub fn ms_to_nanos(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1_000_000.0).round() as u64
    } else {
        0
    }
}
