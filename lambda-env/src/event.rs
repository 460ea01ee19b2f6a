//! Telemetry API events: the log of everything the sandbox emitted, and the platform records in the
//! shapes rapid builds them (`internal/lambda/rapidcore/standalone/telemetry/events_api.go`, schema
//! 2022-12-13).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// One event as the Telemetry API delivers it.
#[derive(Clone, Debug)]
pub struct Event {
    /// When it happened (full precision; delivered with millisecond precision as Lambda does).
    pub time: DateTime<Utc>,
    /// `platform.start`, `function`, …
    pub event_type: String,
    /// The `record` as delivered: an object for platform events and JSON log lines, a string for
    /// other log lines.
    pub record: Value,
}

impl Event {
    /// The JSON object delivered to subscribers.
    pub fn to_json(&self) -> Value {
        json!({
            "time": self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "type": self.event_type,
            "record": self.record,
        })
    }

    /// The Telemetry API stream the event belongs to.
    pub fn category(&self) -> &'static str {
        match self.event_type.as_str() {
            "function" => "function",
            "extension" => "extension",
            _ => "platform",
        }
    }

    /// `record.requestId`, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.record.get("requestId").and_then(Value::as_str)
    }
}

/// Every event of the sandbox's life, in emission order.
#[derive(Default)]
pub(crate) struct EventLog {
    events: Mutex<Vec<Event>>,
}

impl EventLog {
    pub fn push(&self, event: Event) -> usize {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push(event);
        events.len() - 1
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn since(&self, index: usize) -> Vec<Event> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .get(index..)
            .map(<[Event]>::to_vec)
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Monotonic instants as wall-clock times (rapid's `metering.MonoToEpoch`).
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    instant: Instant,
    wall: SystemTime,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    pub fn wall(&self, at: Instant) -> DateTime<Utc> {
        let wall = match at.checked_duration_since(self.instant) {
            Some(after) => self.wall + after,
            None => self.wall - self.instant.duration_since(at),
        };
        DateTime::<Utc>::from(wall)
    }

    /// Unix milliseconds of `at` (deadlines).
    pub fn unix_ms(&self, at: Instant) -> i64 {
        self.wall(at).timestamp_millis()
    }
}

/// Milliseconds with microsecond precision (rapid `telemetry.CalculateDuration`).
pub fn ms(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// A span in a `runtimeDone`/`report` record (`interop.Span`).
pub(crate) fn span(clock: &Clock, name: &str, start: Instant, end: Instant) -> Value {
    json!({
        "name": name,
        "start": clock.wall(start).to_rfc3339_opts(SecondsFormat::Millis, true),
        "durationMs": ms(end.saturating_duration_since(start)),
    })
}

/// The `tracing` object of `start`/`runtimeDone`/`report` (`addTracingToRecord`).
pub(crate) fn tracing(span_id: &str, header: &str) -> Value {
    json!({"spanId": span_id, "type": "X-Amzn-Trace-Id", "value": header})
}
