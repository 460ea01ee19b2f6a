//! Fixture-driven tests of the schema: one fixture per event type (tests/fixtures/telemetry/).

use super::*;
use crate::telemetry::events::*;

fn one(json: &str) -> Event {
    let batch = parse_batch(json.as_bytes()).expect("a JSON array");
    assert_eq!(batch.skipped, vec![], "nothing skipped");
    assert_eq!(batch.events.len(), 1);
    batch.events.into_iter().next().expect("one event")
}

#[test]
fn init_events() {
    let start = one(fixture!("platform.initStart.json"));
    assert_eq!(start.time, parse_time("2026-11-25T10:00:00.000Z").unwrap());
    let EventBody::InitStart(init) = start.body else {
        panic!("{start:?}")
    };
    assert_eq!(init.initialization_type.as_deref(), Some("on-demand"));
    assert_eq!(init.phase.as_deref(), Some("init"));
    assert_eq!(init.runtime_version.as_deref(), Some("provided:al2023.v98"));

    let EventBody::InitRuntimeDone(done) = one(fixture!("platform.initRuntimeDone.json")).body
    else {
        panic!()
    };
    assert_eq!(done.status, Some(Status::Success));

    let EventBody::InitReport(report) = one(fixture!("platform.initReport.json")).body else {
        panic!()
    };
    assert_eq!(report.metrics.and_then(|m| m.duration_ms), Some(43.21));
    assert_eq!(report.initialization_type.as_deref(), Some("on-demand"));
}

#[test]
fn restore_events() {
    let EventBody::RestoreStart(start) = one(fixture!("platform.restoreStart.json")).body else {
        panic!()
    };
    assert_eq!(start.function_version.as_deref(), Some("7"));
    assert_eq!(start.initialization_type, None);
    let EventBody::RestoreRuntimeDone(done) =
        one(fixture!("platform.restoreRuntimeDone.json")).body
    else {
        panic!()
    };
    assert_eq!(done.status, Some(Status::Success));
    let EventBody::RestoreReport(report) = one(fixture!("platform.restoreReport.json")).body else {
        panic!()
    };
    assert_eq!(report.metrics.and_then(|m| m.duration_ms), Some(182.4));
}

#[test]
fn invocation_events() {
    let EventBody::Start(start) = one(fixture!("platform.start.json")).body else {
        panic!()
    };
    assert_eq!(start.request_id, "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa");
    let tracing = start.tracing.expect("tracing");
    assert_eq!(tracing.kind.as_deref(), Some("X-Amzn-Trace-Id"));
    assert!(tracing.value.unwrap().starts_with("Root=1-67a3b1c2-"));
    assert_eq!(tracing.span_id.as_deref(), Some("2b8a0f3e9a1c4d5e"));

    let done_event = one(fixture!("platform.runtimeDone.json"));
    let EventBody::RuntimeDone(done) = done_event.body else {
        panic!()
    };
    assert_eq!(done.status, Some(Status::Success));
    let metrics = done.metrics.expect("metrics");
    assert_eq!(
        (metrics.duration_ms, metrics.produced_bytes),
        (Some(12.5), Some(73))
    );
    let names: Vec<&str> = done.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["responseLatency", "responseDuration", "runtimeOverhead"]
    );
    assert_eq!(
        parse_time(&done.spans[1].start).unwrap() % 1_000_000_000,
        61_250_000,
        "sub-millisecond start"
    );

    let EventBody::Report(report) = one(fixture!("platform.report.json")).body else {
        panic!()
    };
    let metrics = report.metrics.expect("metrics");
    assert_eq!(metrics.billed_duration_ms, Some(57.0));
    assert_eq!(metrics.memory_size_mb, Some(128));
    assert_eq!(metrics.max_memory_used_mb, Some(24));
    assert_eq!(metrics.init_duration_ms, Some(43.21));
}

#[test]
fn every_runtime_done_status() {
    for (json, status, error_type) in [
        (fixture!("platform.runtimeDone.json"), Status::Success, None),
        (
            fixture!("platform.runtimeDone.error.json"),
            Status::Error,
            Some("Runtime.HandlerError"),
        ),
        (
            fixture!("platform.runtimeDone.failure.json"),
            Status::Failure,
            Some("Runtime.ExitError"),
        ),
        (
            fixture!("platform.runtimeDone.timeout.json"),
            Status::Timeout,
            Some("Sandbox.Timedout"),
        ),
    ] {
        let EventBody::RuntimeDone(done) = one(json).body else {
            panic!()
        };
        assert_eq!(done.status, Some(status));
        assert_eq!(done.error_type.as_deref(), error_type);
    }
    let future = r#"[{"time":"2026-11-25T10:00:00Z","type":"platform.runtimeDone","record":{"requestId":"r","status":"throttled"}}]"#;
    let EventBody::RuntimeDone(done) = one(future).body else {
        panic!()
    };
    assert_eq!(done.status, Some(Status::Other("throttled".into())));
}

#[test]
fn platform_notices() {
    let EventBody::Extension(extension) = one(fixture!("platform.extension.json")).body else {
        panic!()
    };
    assert_eq!(extension.events, ["INVOKE", "SHUTDOWN"]);
    let EventBody::TelemetrySubscription(subscription) =
        one(fixture!("platform.telemetrySubscription.json")).body
    else {
        panic!()
    };
    assert_eq!(subscription.types, ["platform", "function", "extension"]);
    let EventBody::LogsDropped(dropped) = one(fixture!("platform.logsDropped.json")).body else {
        panic!()
    };
    assert_eq!(
        (dropped.dropped_records, dropped.dropped_bytes),
        (Some(123), Some(12345))
    );
}

#[test]
fn log_records_are_text_or_json() {
    let EventBody::FunctionLog(LogLine::Text(text)) = one(fixture!("function.text.json")).body
    else {
        panic!()
    };
    assert!(text.contains("WARN S3 slow"));
    let EventBody::FunctionLog(LogLine::Json(object)) = one(fixture!("function.json.json")).body
    else {
        panic!()
    };
    assert_eq!(object["level"], "ERROR");
    let EventBody::FunctionLog(LogLine::Text(_)) = one(fixture!("function.json-in-text.json")).body
    else {
        panic!("a JSON line written as text stays text at this level")
    };
    let EventBody::ExtensionLog(LogLine::Text(line)) = one(fixture!("extension.json")).body else {
        panic!()
    };
    assert!(line.starts_with("[otel-sidecar]"));
}

#[test]
fn bad_records_are_skipped_one_by_one() {
    let batch = parse_batch(fixture!("mixed-batch.json").as_bytes()).expect("an array");
    let kinds: Vec<&str> = batch
        .events
        .iter()
        .map(|e| match &e.body {
            EventBody::Start(_) => "start",
            EventBody::Report(_) => "report",
            EventBody::FunctionLog(_) => "function",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["start", "report", "function"]);
    assert_eq!(
        batch.skipped[0],
        Skipped::UnknownType("platform.someFutureEvent".into())
    );
    let malformed: Vec<&str> = batch
        .skipped
        .iter()
        .filter_map(|s| match s {
            Skipped::Malformed { kind, .. } => Some(kind.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        malformed,
        ["platform.runtimeDone", "function", "function", ""],
        "missing requestId, missing time, bad time, not an object"
    );
}

#[test]
fn a_body_that_is_not_an_array_is_an_error() {
    assert!(parse_batch(b"{\"type\":\"function\"}").is_err());
    assert!(parse_batch(b"not json").is_err());
    assert_eq!(parse_batch(b"[]"), Ok(Batch::default()));
}
