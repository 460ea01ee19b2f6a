//! The Telemetry API's event schema (2022-12-13, and the 2025-01-29 additions), parsed one record at a
//! time: an unknown `type`, an unknown field or a record that does not parse is skipped and reported,
//! never failing the rest of the batch.
//!
//! Every field Lambda documents as optional is an `Option` here, and several that are documented as
//! required too (`phase`, `metrics`, `status`…) because a missing one should cost an attribute, not the
//! record. Only what identifies a record is required: `time`, `type`, and `requestId` for the
//! invocation events. <https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html>
//!
//! (`lambda_extension::LambdaTelemetry` has no `platform.restore*` types, requires fields Lambda may
//! omit and is parsed a whole batch at a time, so its types are not used.)

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
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
    /// Outcome.
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
    /// Milliseconds.
    pub duration_ms: Option<f64>,
}

/// `platform.start`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// The invocation's request id.
    pub request_id: String,
    /// Function version.
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
    /// Outcome.
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
    /// Outcome.
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
    /// What was billed.
    pub billed_duration_ms: Option<f64>,
    /// Configured memory.
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
    /// Its name.
    pub name: String,
    /// RFC 3339 start.
    pub start: String,
    /// Length.
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
    /// Extension name.
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
    /// Subscriber name.
    pub name: Option<String>,
    /// `Subscribed`…
    pub state: Option<String>,
    /// Streams.
    pub types: Vec<String>,
}

/// `platform.logsDropped`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogsDropped {
    /// Lambda's explanation.
    pub reason: Option<String>,
    /// Records lost.
    pub dropped_records: Option<u64>,
    /// Bytes lost.
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

/// Why a record was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// A `type` this version does not know (Lambda adds types over time).
    UnknownType(String),
    /// A known type whose record does not parse, or a record without `time`/`type`.
    Malformed {
        /// The record's type, if it had one.
        kind: String,
        /// What was wrong.
        reason: String,
    },
}

/// A parsed batch.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// The records that parsed, in delivery order.
    pub events: Vec<Event>,
    /// The ones that did not.
    pub skipped: Vec<Skipped>,
}

/// The body is not a JSON array: nothing in it can be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("telemetry batch is not a JSON array: {0}")]
pub struct BatchError(pub String);

#[derive(Deserialize)]
struct Envelope<'a> {
    time: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    record: Option<&'a RawValue>,
}

/// Parses a delivered body, one record at a time.
pub fn parse_batch(body: &[u8]) -> Result<Batch, BatchError> {
    let records: Vec<&RawValue> =
        serde_json::from_slice(body).map_err(|e| BatchError(e.to_string()))?;
    let mut batch = Batch {
        events: Vec::with_capacity(records.len()),
        skipped: Vec::new(),
    };
    for record in records {
        match parse_record(record) {
            Ok(event) => batch.events.push(event),
            Err(skipped) => batch.skipped.push(skipped),
        }
    }
    Ok(batch)
}

fn parse_record(raw: &RawValue) -> Result<Event, Skipped> {
    let malformed = |kind: &str, reason: String| Skipped::Malformed {
        kind: kind.to_owned(),
        reason,
    };
    let envelope: Envelope<'_> =
        serde_json::from_str(raw.get()).map_err(|e| malformed("", e.to_string()))?;
    let kind = envelope
        .kind
        .ok_or_else(|| malformed("", "no `type`".into()))?;
    let time = envelope
        .time
        .as_deref()
        .ok_or_else(|| malformed(&kind, "no `time`".into()))
        .and_then(|t| parse_time(t).ok_or_else(|| malformed(&kind, format!("bad `time` {t:?}"))))?;
    let record = envelope.record.map(RawValue::get).unwrap_or("null");
    let typed =
        |r: Result<EventBody, serde_json::Error>| r.map_err(|e| malformed(&kind, e.to_string()));
    let body = match kind.as_str() {
        "platform.initStart" => typed(from(record).map(EventBody::InitStart)),
        "platform.initRuntimeDone" => typed(from(record).map(EventBody::InitRuntimeDone)),
        "platform.initReport" => typed(from(record).map(EventBody::InitReport)),
        "platform.restoreStart" => typed(from(record).map(EventBody::RestoreStart)),
        "platform.restoreRuntimeDone" => typed(from(record).map(EventBody::RestoreRuntimeDone)),
        "platform.restoreReport" => typed(from(record).map(EventBody::RestoreReport)),
        "platform.start" => typed(from(record).map(EventBody::Start)),
        "platform.runtimeDone" => typed(from(record).map(EventBody::RuntimeDone)),
        "platform.report" => typed(from(record).map(EventBody::Report)),
        "platform.extension" => typed(from(record).map(EventBody::Extension)),
        "platform.telemetrySubscription" => {
            typed(from(record).map(EventBody::TelemetrySubscription))
        }
        "platform.logsDropped" => typed(from(record).map(EventBody::LogsDropped)),
        "function" => log_line(record).map(EventBody::FunctionLog),
        "extension" => log_line(record).map(EventBody::ExtensionLog),
        _ => return Err(Skipped::UnknownType(kind)),
    }
    .map_err(|e| match e {
        Skipped::Malformed { reason, .. } => malformed(&kind, reason),
        other => other,
    })?;
    Ok(Event { time, body })
}

/// Records that are `null` parse as their type's defaults where every field is optional.
fn from<T: DeserializeOwned>(record: &str) -> Result<T, serde_json::Error> {
    if record == "null" {
        return serde_json::from_str("{}");
    }
    serde_json::from_str(record)
}

fn log_line(record: &str) -> Result<LogLine, Skipped> {
    match serde_json::from_str::<Value>(record) {
        Ok(Value::String(text)) => Ok(LogLine::Text(text)),
        Ok(Value::Object(map)) => Ok(LogLine::Json(map)),
        Ok(other) => Ok(LogLine::Text(other.to_string())),
        Err(e) => Err(Skipped::Malformed {
            kind: String::new(),
            reason: e.to_string(),
        }),
    }
}

/// RFC 3339 (what Lambda sends) to Unix nanoseconds.
pub fn parse_time(text: &str) -> Option<UnixNanos> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(time.timestamp_nanos_opt()?).ok()
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
