//! The Telemetry API's event schema (2022-12-13, and the 2025-01-29 additions) as Rust types; parsing,
//! one record at a time, is in [`super::parse`].
//!
//! Every field Lambda documents as optional is an `Option` here, and several that are documented as
//! required too (`phase`, `metrics`, `status`…) because a missing one should cost an attribute, not the
//! record. Only what identifies a record is required: `time`, `type`, and `requestId` for the
//! invocation events. <https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html>
//!
//! (`lambda_extension::LambdaTelemetry` has no `platform.restore*` types, requires fields Lambda may
//! omit and is parsed a whole batch at a time, so its types are not used.)

use serde::Deserialize;
use serde_json::{Map, Value};

/// A point in time, in nanoseconds since the Unix epoch.
pub type UnixNanos = u64;

/// One telemetry event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When Lambda generated it.
    pub time: UnixNanos,
    /// What happened.
    pub body: EventBody,
}

/// The event types of the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// `platform.initStart`.
    InitStart(InitStart),
    /// `platform.initRuntimeDone`.
    InitRuntimeDone(PhaseDone),
    /// `platform.initReport`.
    InitReport(PhaseReport),
    /// `platform.restoreStart` (SnapStart).
    RestoreStart(InitStart),
    /// `platform.restoreRuntimeDone`.
    RestoreRuntimeDone(PhaseDone),
    /// `platform.restoreReport`.
    RestoreReport(PhaseReport),
    /// `platform.start`: an invocation began.
    Start(Start),
    /// `platform.runtimeDone`: the runtime finished the invocation.
    RuntimeDone(RuntimeDone),
    /// `platform.report`: the invocation's figures, after every extension finished.
    Report(Report),
    /// `platform.extension`: an extension registered.
    Extension(ExtensionInfo),
    /// `platform.telemetrySubscription`.
    TelemetrySubscription(SubscriptionInfo),
    /// `platform.logsDropped`: Lambda dropped records because a subscriber was too slow.
    LogsDropped(LogsDropped),
    /// `function`: a line the function wrote.
    FunctionLog(LogLine),
    /// `extension`: a line an extension wrote.
    ExtensionLog(LogLine),
}

/// Outcome of an init, restore or invocation phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `success`.
    Success,
    /// `error`: the function (or runtime) reported an error.
    Error,
    /// `failure`: the runtime or environment failed (crash, out of memory…).
    Failure,
    /// `timeout`.
    Timeout,
    /// A value this version does not know, kept as sent.
    Other(String),
}

impl Status {
    /// The value as Lambda spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
            Self::Other(other) => other,
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(match value.as_str() {
            "success" => Self::Success,
            "error" => Self::Error,
            "failure" => Self::Failure,
            "timeout" => Self::Timeout,
            _ => Self::Other(value),
        })
    }
}

/// `platform.initStart` / `platform.restoreStart`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InitStart {
    /// `on-demand`, `provisioned-concurrency`, `snap-start` (or, later, others).
    pub initialization_type: Option<String>,
    /// `init` or `invoke` (an init re-run during an invocation after a failure).
    pub phase: Option<String>,
    /// e.g. `provided:al2023.v55`.
    pub runtime_version: Option<String>,
    /// The runtime version's ARN.
    pub runtime_version_arn: Option<String>,
    /// Function name (2022-12-13).
    pub function_name: Option<String>,
    /// Function version (2022-12-13).
    pub function_version: Option<String>,
}

/// `platform.initRuntimeDone` / `platform.restoreRuntimeDone`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PhaseDone {
    /// Init type (init events only).
    pub initialization_type: Option<String>,
    /// Phase (init events only).
    pub phase: Option<String>,
    /// `success`, `error`, `failure` or `timeout`, as Lambda reports the phase.
    pub status: Option<Status>,
    /// Why it failed, e.g. `Runtime.ExitError`.
    pub error_type: Option<String>,
    /// Sub-phases Lambda measured.
    pub spans: Vec<RecordSpan>,
}

/// `platform.initReport` / `platform.restoreReport`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PhaseReport {
    /// Init type (init events only).
    pub initialization_type: Option<String>,
    /// Phase (init events only).
    pub phase: Option<String>,
    /// Outcome (2022-12-13).
    pub status: Option<Status>,
    /// Why it failed.
    pub error_type: Option<String>,
    /// Duration of the whole phase, extensions included.
    pub metrics: Option<DurationMetrics>,
    /// Sub-phases Lambda measured.
    pub spans: Vec<RecordSpan>,
}

/// `{"durationMs": …}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DurationMetrics {
    /// How long the phase took, in milliseconds.
    pub duration_ms: Option<f64>,
}

/// `platform.start`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// The invocation's request id.
    pub request_id: String,
    /// The function version that ran (`$LATEST` or a number).
    #[serde(default)]
    pub version: Option<String>,
    /// X-Ray context of the invocation.
    #[serde(default)]
    pub tracing: Option<TraceContext>,
}

/// `platform.runtimeDone`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone {
    /// The invocation's request id.
    pub request_id: String,
    /// How the invocation ended: `success`, `error`, `failure` or `timeout`.
    #[serde(default)]
    pub status: Option<Status>,
    /// Why it failed, e.g. `Runtime.ExitError`, `Sandbox.Timedout`.
    #[serde(default)]
    pub error_type: Option<String>,
    /// Runtime duration and response size.
    #[serde(default)]
    pub metrics: Option<RuntimeDoneMetrics>,
    /// `responseLatency`, `responseDuration`, `runtimeOverhead`.
    #[serde(default)]
    pub spans: Vec<RecordSpan>,
    /// X-Ray context of the invocation.
    #[serde(default)]
    pub tracing: Option<TraceContext>,
}

/// `platform.runtimeDone`'s metrics.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeDoneMetrics {
    /// From the invocation's start to the runtime's `next` (or error).
    pub duration_ms: Option<f64>,
    /// Size of the response.
    pub produced_bytes: Option<u64>,
}

/// `platform.report`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The invocation's request id.
    pub request_id: String,
    /// How the invocation ended: `success`, `error`, `failure` or `timeout`.
    #[serde(default)]
    pub status: Option<Status>,
    /// Why it failed.
    #[serde(default)]
    pub error_type: Option<String>,
    /// Duration, billing and memory figures.
    #[serde(default)]
    pub metrics: Option<ReportMetrics>,
    /// Sub-phases Lambda measured.
    #[serde(default)]
    pub spans: Vec<RecordSpan>,
    /// X-Ray context of the invocation.
    #[serde(default)]
    pub tracing: Option<TraceContext>,
}

/// `platform.report`'s metrics.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportMetrics {
    /// The invocation phase, post-runtime extension work included.
    pub duration_ms: Option<f64>,
    /// Billed duration in milliseconds (rounded up as Lambda bills).
    pub billed_duration_ms: Option<f64>,
    /// The function's configured memory, in MB.
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: Option<u64>,
    /// Peak memory of the environment.
    #[serde(rename = "maxMemoryUsedMB")]
    pub max_memory_used_mb: Option<u64>,
    /// Present on a cold start.
    pub init_duration_ms: Option<f64>,
    /// Present after a SnapStart restore.
    pub restore_duration_ms: Option<f64>,
    /// Billed restore time (SnapStart).
    pub billed_restore_duration_ms: Option<f64>,
}

/// A sub-phase measured by Lambda (`responseLatency`, `responseDuration`, `runtimeOverhead`…).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSpan {
    /// Lambda's name for the phase (`responseLatency`, `runtimeOverhead`, `extensionOverhead`...).
    pub name: String,
    /// RFC 3339 start.
    pub start: String,
    /// How long the phase took, in milliseconds.
    pub duration_ms: f64,
}

/// `tracing` in invocation events.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceContext {
    /// Span id Lambda gives the invocation (2022-12-13).
    pub span_id: Option<String>,
    /// `X-Amzn-Trace-Id`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The header value, e.g. `Root=1-…;Parent=…;Sampled=1`.
    pub value: Option<String>,
}

/// `platform.extension`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionInfo {
    /// The name the extension registered with.
    pub name: Option<String>,
    /// `Ready`, `Failed`…
    pub state: Option<String>,
    /// Events it registered for.
    pub events: Vec<String>,
    /// Why it failed.
    pub error_type: Option<String>,
}

/// `platform.telemetrySubscription`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionInfo {
    /// The name of the extension that subscribed.
    pub name: Option<String>,
    /// `Subscribed`…
    pub state: Option<String>,
    /// The streams subscribed to (`platform`, `function`, `extension`).
    pub types: Vec<String>,
}

/// `platform.logsDropped`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogsDropped {
    /// Lambda's explanation.
    pub reason: Option<String>,
    /// Records Lambda dropped because the subscriber did not keep up.
    pub dropped_records: Option<u64>,
    /// Bytes Lambda dropped with them.
    pub dropped_bytes: Option<u64>,
}

/// A `function` or `extension` record: a text line, or an object when the function's log format is JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum LogLine {
    /// Text as written.
    Text(String),
    /// A JSON object.
    Json(Map<String, Value>),
}
