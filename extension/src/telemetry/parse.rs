//! Parsing a delivered batch one record at a time: an unknown `type`, an unknown field or a record that
//! does not parse is skipped and reported, never failing the rest of the batch.

use super::events::{Event, EventBody, LogLine, UnixNanos};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

/// Why a record was skipped: here, because it does not parse; in [`super::translate`], because it does
/// not fit the invocations seen so far.
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
    /// An invocation record (`runtimeDone`, `report`) for a request id whose `platform.start` was never
    /// received: not an invocation the sidecar counts.
    UnknownRequestId {
        /// The record's type.
        kind: &'static str,
        /// Its request id.
        request_id: String,
    },
    /// A record of a type already received for that invocation (a redelivery).
    Duplicate {
        /// The record's type.
        kind: &'static str,
        /// Its request id.
        request_id: String,
    },
    /// A record for an invocation already emitted (e.g. a `runtimeDone` delivered after the `report`).
    Late {
        /// The record's type.
        kind: &'static str,
        /// Its request id.
        request_id: String,
    },
}

/// The `reason` label of `otel_sidecar.telemetry_api.skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// [`Skipped::UnknownType`].
    UnknownType,
    /// [`Skipped::Malformed`].
    Malformed,
    /// [`Skipped::UnknownRequestId`].
    UnknownRequestId,
    /// [`Skipped::Duplicate`].
    Duplicate,
    /// [`Skipped::Late`].
    Late,
}

impl SkipReason {
    /// Every reason, in the order of [`SkipReason::index`].
    pub const ALL: [SkipReason; 5] = [
        Self::UnknownType,
        Self::Malformed,
        Self::UnknownRequestId,
        Self::Duplicate,
        Self::Late,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownType => "unknown_type",
            Self::Malformed => "malformed",
            Self::UnknownRequestId => "unknown_request_id",
            Self::Duplicate => "duplicate",
            Self::Late => "late",
        }
    }

    /// Its position in [`SkipReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Skipped {
    /// Why a record for a started invocation does not fit: its kind was received already (`duplicate`), or
    /// the invocation was emitted before it came (`late`).
    pub fn out_of_place(kind_seen: bool, kind: &'static str, request_id: String) -> Skipped {
        if kind_seen {
            Skipped::Duplicate { kind, request_id }
        } else {
            Skipped::Late { kind, request_id }
        }
    }

    /// An init record received a second time (same type, same time): counted once.
    pub fn redelivered(kind: &'static str) -> Skipped {
        Skipped::Duplicate {
            kind,
            request_id: String::new(),
        }
    }

    /// The metric label it is counted under.
    pub fn reason(&self) -> SkipReason {
        match self {
            Self::UnknownType(_) => SkipReason::UnknownType,
            Self::Malformed { .. } => SkipReason::Malformed,
            Self::UnknownRequestId { .. } => SkipReason::UnknownRequestId,
            Self::Duplicate { .. } => SkipReason::Duplicate,
            Self::Late { .. } => SkipReason::Late,
        }
    }
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
mod tests;
