//! The shape of `otel-config.yaml`: raw serde structs whose doc comments are the configuration reference.
//!
//! Every section and key is optional; an absent key takes the default named in its doc comment.
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo never silently falls back to a default.
//! String values may contain `${env:NAME}` (or `${env:NAME:-fallback}`), replaced from the environment.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Top level of `otel-config.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where the sidecar listens for the function's telemetry.
    pub receivers: Option<ReceiversSection>,
    /// Where the sidecar sends telemetry. Without an endpoint, nothing leaves the sandbox and the
    /// console exporter prints a summary of each invocation instead.
    pub exporter: Option<ExporterSection>,
    /// When buffered telemetry is exported, relative to the Lambda lifecycle.
    pub flush: Option<FlushSection>,
    /// Memory bounds.
    pub limits: Option<LimitsSection>,
    /// Resource attributes added to everything exported.
    pub resource: Option<ResourceSection>,
    /// The human-readable console summary (stdout, i.e. CloudWatch Logs in Lambda).
    pub console: Option<ConsoleSection>,
    /// Lambda's Telemetry API: platform spans, `faas.*` metrics and the function's log lines.
    pub telemetry_api: Option<TelemetryApiSection>,
}

/// `receivers:` the OTLP listeners.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiversSection {
    /// `receivers.otlp_http`: OTLP/HTTP (protobuf or JSON, optionally gzip). Default `127.0.0.1:4318`.
    pub otlp_http: Option<ListenerSection>,
    /// `receivers.otlp_grpc`: OTLP/gRPC, default `127.0.0.1:4317`: the receiver in binaries built with the
    /// cargo feature `grpc`; without it, calls there are answered `UNIMPLEMENTED` (logged once).
    pub otlp_grpc: Option<ListenerSection>,
}

/// One listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    /// `enabled`: whether to listen at all. Default `true`.
    pub enabled: Option<bool>,
    /// `endpoint`: `host:port` to bind, e.g. `127.0.0.1:4318`. Must be an IP address and port.
    pub endpoint: Option<String>,
}

/// `exporter:` OTLP/HTTP protobuf export. Standard `OTEL_EXPORTER_OTLP_*` variables override these keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExporterSection {
    /// `exporter.endpoint`: base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended.
    /// Overridden by `OTEL_EXPORTER_OTLP_ENDPOINT`. Default: none (console exporter only).
    pub endpoint: Option<String>,
    /// `exporter.traces_endpoint`: full URL for traces, used as is. Overridden by `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub traces_endpoint: Option<String>,
    /// `exporter.metrics_endpoint`: full URL for metrics. Overridden by `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
    pub metrics_endpoint: Option<String>,
    /// `exporter.logs_endpoint`: full URL for logs. Overridden by `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`.
    pub logs_endpoint: Option<String>,
    /// `exporter.protocol`: only `http/protobuf` is supported (the default).
    pub protocol: Option<String>,
    /// `exporter.headers`: HTTP headers sent with every export, e.g. `x-honeycomb-team: ${env:HONEYCOMB_API_KEY}`.
    /// Values are never logged. `OTEL_EXPORTER_OTLP_HEADERS` entries are added on top.
    pub headers: Option<BTreeMap<String, String>>,
    /// `exporter.compression`: `gzip` (default) or `none`. Overridden by `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub compression: Option<String>,
    /// `exporter.timeout_ms`: timeout of one HTTP request. Default 10000. Overridden by `OTEL_EXPORTER_OTLP_TIMEOUT`.
    pub timeout_ms: Option<u64>,
    /// `exporter.retry`: retries on 429, 502, 503, 504 and connection errors (never on other statuses).
    pub retry: Option<RetrySection>,
}

/// `exporter.retry:` exponential backoff with full jitter; `Retry-After` is honoured.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// `exporter.retry.max_attempts`: attempts per export, first one included. Default 5; 1 disables retries.
    pub max_attempts: Option<u32>,
    /// `exporter.retry.initial_backoff_ms`: first backoff. Default 100.
    pub initial_backoff_ms: Option<u64>,
    /// `exporter.retry.max_backoff_ms`: backoff ceiling (also caps `Retry-After`). Default 5000.
    pub max_backoff_ms: Option<u64>,
}

/// `flush:` when the buffer is exported.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlushSection {
    /// `flush.mode`: `adaptive` (default), `end`, `periodic` or `continuous`. See docs/sidecar.md.
    pub mode: Option<String>,
    /// `flush.interval_ms`: for `periodic`, `continuous` and busy `adaptive`: export at most this often. Default 20000.
    pub interval_ms: Option<u64>,
    /// `flush.adaptive_busy_threshold_ms`: `adaptive` switches to `continuous` when invocations arrive on average
    /// closer together than this, and back to `end` when they are further apart. Default 60000 (one a minute).
    pub adaptive_busy_threshold_ms: Option<u64>,
    /// `flush.completion_timeout_ms`: the longest the sidecar waits, from the INVOKE event, for the function's
    /// root span of that invocation before it considers the invocation finished. Default 3000.
    pub completion_timeout_ms: Option<u64>,
    /// `flush.max_delay_ms`: the longest an export may hold the sidecar's `next` call after the function
    /// finished, i.e. the most a slow backend can add to an invocation. Default 300.
    pub max_delay_ms: Option<u64>,
    /// `flush.shutdown_margin_ms`: at SHUTDOWN, stop exporting this long before Lambda's deadline. Default 300.
    pub shutdown_margin_ms: Option<u64>,
}

/// `limits:` memory bounds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// `limits.max_buffer_bytes`: cap on buffered telemetry (encoded protobuf size). When full, the oldest data
    /// is dropped and counted. Default 8388608 (8 MiB).
    pub max_buffer_bytes: Option<u64>,
    /// `limits.max_request_bytes`: largest accepted OTLP request body, before and after decompression;
    /// larger requests get 413. Default 4194304 (4 MiB). Must not exceed `max_buffer_bytes`.
    pub max_request_bytes: Option<u64>,
}

/// `resource:` attributes added to every exported resource.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSection {
    /// `resource.attributes`: string attributes, e.g. `deployment.environment.name: prod`. They take precedence over
    /// `OTEL_RESOURCE_ATTRIBUTES`, which takes precedence over the detected Lambda attributes.
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `console:` the human-readable summary.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// `console.enabled`: print a summary of exported telemetry to stdout. Default: `true` when no exporter
    /// endpoint is configured, `false` otherwise.
    pub enabled: Option<bool>,
}

/// `telemetry_api:` the subscription to Lambda's Telemetry API. Where there is none (the Runtime Interface
/// Emulator, `cargo lambda watch`), the sidecar logs it once and carries on with OTLP only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryApiSection {
    /// `telemetry_api.enabled`: subscribe at all. Default `true`.
    pub enabled: Option<bool>,
    /// `telemetry_api.listener`: `ip:port` the sidecar listens on for Lambda's batches. Lambda delivers to
    /// `http://sandbox.localdomain:<port>`, so the port is what matters; the default binds every address of
    /// the sandbox. Default `0.0.0.0:4319`.
    pub listener: Option<String>,
    /// `telemetry_api.types`: streams to subscribe to, among `platform`, `function` and `extension`.
    /// Default all three. Without `platform` there are no platform spans or `faas.*` metrics.
    pub types: Option<Vec<String>>,
    /// `telemetry_api.buffering`: how Lambda batches events before delivering them.
    pub buffering: Option<TelemetryBufferingSection>,
    /// `telemetry_api.faas_trigger`: the `faas.trigger` attribute of the `faas.*` metrics and platform
    /// spans (`http`, `pubsub`, `datasource`, `timer` or `other`). Default `other`.
    pub faas_trigger: Option<String>,
}

/// `telemetry_api.buffering:` Lambda delivers a batch when any limit is reached. The defaults favour low
/// lateness: Lambda's own defaults (1000 ms) would deliver most invocations' platform events a second late.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryBufferingSection {
    /// `telemetry_api.buffering.timeout_ms`: longest buffering time, 25 to 30000. Default 25.
    pub timeout_ms: Option<u64>,
    /// `telemetry_api.buffering.max_items`: events per batch, 1000 to 10000. Default 1000.
    pub max_items: Option<u64>,
    /// `telemetry_api.buffering.max_bytes`: bytes per batch, 262144 to 1048576. Default 262144.
    pub max_bytes: Option<u64>,
}
