//! Scenario tests of the translator, built from the fixtures in tests/fixtures/telemetry/.

use super::*;
use crate::lifecycle::completion::RootSpan;
use crate::pipeline::Payload;
use crate::telemetry::cold_start::COLD_START;
use crate::telemetry::invocation::POST_RUNTIME;
use crate::telemetry::parse::parse_batch;
use crate::telemetry::xray::hex;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

const REQUEST: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";
const XRAY_TRACE: &str = "67a3b1c25f8e9d0c1b2a39485766abcd";
const XRAY_PARENT: &str = "53995c3f42cd8ad8";

fn events(fixtures: &[&str]) -> Vec<Event> {
    fixtures
        .iter()
        .flat_map(|json| parse_batch(json.as_bytes()).expect("batch").events)
        .collect()
}

fn new_translator() -> (Translator, Arc<FaasMetrics>) {
    let metrics = Arc::new(FaasMetrics::new("http"));
    (Translator::new(metrics.clone(), "http"), metrics)
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    testkit::otlp_view::attribute_value(&span.attributes, key)
}

fn counter(metrics: &FaasMetrics, name: &str) -> i64 {
    value(&metrics_report(metrics), name)
}

fn handler_root_under_xray(completions: &Completions) {
    completions.mark(
        REQUEST.into(),
        RootSpan {
            trace_id: hex::<16>(XRAY_TRACE).unwrap().to_vec(),
            span_id: vec![0x11; 8],
            parent_span_id: hex::<8>(XRAY_PARENT).unwrap().to_vec(),
            start_unix_nano: at("2026-11-25T10:00:00.0503Z"),
            end_unix_nano: at("2026-11-25T10:00:00.0591Z"),
        },
    );
}

fn at(time: &str) -> u64 {
    crate::telemetry::parse::parse_time(time).expect("time")
}

/// The records of a scenario up to (excluding) its `platform.report`, and the rest: Lambda delivers
/// the report only after every extension called `next`, i.e. in a later batch.
fn until_report(json: &str) -> (Vec<Event>, Vec<Event>) {
    let all = events(&[json]);
    let split = all
        .iter()
        .position(|e| matches!(e.body, EventBody::Report(_)))
        .unwrap_or(all.len());
    let mut first = all;
    let rest = first.split_off(split);
    (first, rest)
}

/// 1 ms: Lambda's event times have millisecond precision.
const TOLERANCE: u64 = 1_000_000;

/// Every span whose parent is among `spans` lies within it (1 ms tolerance); returns how many
/// parent-child pairs were checked.
fn assert_nested(spans: &[Span]) -> usize {
    let mut checked = 0;
    for child in spans {
        let Some(parent) = spans
            .iter()
            .find(|p| p.span_id == child.parent_span_id && p.trace_id == child.trace_id)
        else {
            continue;
        };
        assert!(
            child.start_time_unix_nano + TOLERANCE >= parent.start_time_unix_nano
                && child.end_time_unix_nano <= parent.end_time_unix_nano + TOLERANCE,
            "{} [{}, {}] is not within its parent {} [{}, {}]",
            child.name,
            child.start_time_unix_nano,
            child.end_time_unix_nano,
            parent.name,
            parent.start_time_unix_nano,
            parent.end_time_unix_nano
        );
        checked += 1;
    }
    checked
}

/// The function's root span as the sidecar received it, as a span, to check it against Lambda's.
fn as_span(root: &RootSpan) -> Span {
    Span {
        trace_id: root.trace_id.clone(),
        span_id: root.span_id.clone(),
        parent_span_id: root.parent_span_id.clone(),
        name: "GET /items".into(),
        start_time_unix_nano: root.start_unix_nano,
        end_time_unix_nano: root.end_unix_nano,
        ..Default::default()
    }
}

fn duration_ms(span: &Span) -> f64 {
    (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6
}

#[test]
fn a_cold_start_is_one_tree_with_init_and_invocation_side_by_side() {
    let (mut translator, metrics) = new_translator();
    let completions = Completions::default();
    handler_root_under_xray(&completions);
    let (during, report) = until_report(fixture!("rapid/cold.json"));
    let first = translator.apply(during, &completions);
    assert!(first.spans.is_empty(), "spans wait for the report");
    assert_eq!(first.ended, [REQUEST], "runtimeDone ends the wait");
    let second = translator.apply(report, &completions);
    assert_eq!(second.ended, [REQUEST], "so does the report");
    let spans = second.spans;

    let cold = named(&spans, COLD_START);
    assert_eq!(cold.trace_id, hex::<16>(XRAY_TRACE).unwrap());
    assert!(cold.parent_span_id.is_empty(), "the trace's one root");
    let invocation = named(&spans, "Invocation");
    assert_eq!(invocation.trace_id, cold.trace_id);
    assert_eq!(
        invocation.span_id,
        hex::<8>(XRAY_PARENT).unwrap(),
        "Lambda's span is the parent the handler's root span points at"
    );
    assert_eq!(invocation.parent_span_id, cold.span_id);
    assert_eq!(
        invocation.start_time_unix_nano,
        at("2026-11-25T10:00:00.050Z")
    );
    assert_eq!(
        duration_ms(invocation),
        13.4,
        "what Lambda bills: the report's durationMs, runtime and post-runtime"
    );
    assert_eq!(
        attr(invocation, "faas.coldstart"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(
        attr(invocation, "faas.invocation_id"),
        Some(&Value::StringValue(REQUEST.into()))
    );
    assert_eq!(
        attr(invocation, "aws.lambda.max_memory_used_mb"),
        Some(&Value::IntValue(24))
    );
    assert_eq!(
        attr(invocation, "aws.lambda.post_runtime_extensions_duration_ms"),
        Some(&Value::DoubleValue(1.0))
    );
    assert_eq!(invocation.status, None, "success leaves the status unset");

    let init = named(&spans, "Initialization");
    assert_eq!(init.trace_id, invocation.trace_id);
    assert_eq!(init.parent_span_id, cold.span_id, "a sibling, not a child");
    assert_eq!(duration_ms(init), 43.21);
    assert!(init.end_time_unix_nano <= invocation.start_time_unix_nano);
    assert_eq!(attr(init, "faas.coldstart"), Some(&Value::BoolValue(true)));
    assert_eq!(
        (cold.start_time_unix_nano, cold.end_time_unix_nano),
        (init.start_time_unix_nano, invocation.end_time_unix_nano)
    );
    for child in [
        "responseLatency",
        "responseDuration",
        "runtimeOverhead",
        POST_RUNTIME,
    ] {
        assert_eq!(
            named(&spans, child).parent_span_id,
            invocation.span_id,
            "{child}"
        );
    }
    let post = named(&spans, POST_RUNTIME);
    assert_eq!(
        (post.start_time_unix_nano, post.end_time_unix_nano),
        (
            at("2026-11-25T10:00:00.062Z"),
            at("2026-11-25T10:00:00.063Z")
        )
    );
    assert_eq!(spans.len(), 7);
    assert_eq!(translator.open_invocations(), 0);
    assert_eq!(counter(&metrics, "faas.coldstarts"), 1);
}

#[test]
fn a_cold_start_in_a_callers_trace_takes_the_invocations_place_under_the_callers_span() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    // The caller sent a W3C traceparent: the handler's root span is in the caller's trace.
    let caller_span = vec![0x33; 8];
    completions.mark(
        REQUEST.into(),
        RootSpan {
            trace_id: vec![0x44; 16],
            span_id: vec![0x55; 8],
            parent_span_id: caller_span.clone(),
            start_unix_nano: at("2026-11-25T10:00:00.0503Z"),
            end_unix_nano: at("2026-11-25T10:00:00.0591Z"),
        },
    );
    let spans = translator
        .apply(events(&[fixture!("rapid/cold.json")]), &completions)
        .spans;
    let cold = named(&spans, COLD_START);
    let invocation = named(&spans, "Invocation");
    assert_eq!(cold.trace_id, vec![0x44; 16]);
    assert_eq!(
        cold.parent_span_id, caller_span,
        "where the Invocation would be"
    );
    assert_eq!(invocation.parent_span_id, cold.span_id);
    assert_eq!(named(&spans, "Initialization").parent_span_id, cold.span_id);
    assert_eq!(assert_nested(&spans), 6);
}

#[test]
fn every_span_lies_within_its_parent_cold_warm_error_and_timeout() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    handler_root_under_xray(&completions);
    let warm_root = RootSpan {
        trace_id: hex::<16>("67a3b1c30123456789abcdef01234567")
            .unwrap()
            .to_vec(),
        span_id: vec![0x22; 8],
        parent_span_id: hex::<8>("a1b2c3d4e5f60718").unwrap().to_vec(),
        start_unix_nano: at("2026-11-25T10:00:01.0002Z"),
        // Ends after the (truncated) runtimeDone time: the invocation must still contain it.
        end_unix_nano: at("2026-11-25T10:00:01.0041Z"),
    };
    completions.mark(WARM.into(), warm_root.clone());
    let roots = [completions.root_span(REQUEST).expect("root"), warm_root];
    let mut checked = 0;
    let billed = [
        ("rapid/cold.json", 13.4),
        ("rapid/warm.json", 5.1),
        ("rapid/error.json", 3.0),
        ("rapid/timeout.json", 3031.87),
    ];
    for ((name, report_ms), json) in billed.into_iter().zip([
        fixture!("rapid/cold.json"),
        fixture!("rapid/warm.json"),
        fixture!("rapid/error.json"),
        fixture!("rapid/timeout.json"),
    ]) {
        let (during, report) = until_report(json);
        assert!(translator.apply(during, &completions).spans.is_empty());
        let mut spans = translator.apply(report, &completions).spans;
        let invocation = named(&spans, "Invocation");
        assert!(
            (duration_ms(invocation) - report_ms).abs() < 1e-6,
            "{name}: the Invocation span is the billed duration"
        );
        spans.extend(roots.iter().map(as_span));
        let pairs = assert_nested(&spans);
        assert!(pairs >= 1, "{name}: {pairs}");
        checked += pairs;
    }
    // cold: 3 sub-phases + post-runtime + handler root under Invocation, Invocation + Initialization
    // under ColdStart; warm: 3 + post-runtime + handler root; error: 3 + post-runtime; timeout:
    // post-runtime.
    assert_eq!(checked, 7 + 5 + 4 + 1);
}

#[test]
fn the_reports_extension_overhead_is_the_post_runtime_span() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    let spans = translator
        .apply(events(&[fixture!("rapid/warm.json")]), &completions)
        .spans;
    let post = named(&spans, POST_RUNTIME);
    assert_eq!(post.start_time_unix_nano, at("2026-11-25T10:00:01.0042Z"));
    assert_eq!(
        duration_ms(post),
        0.9,
        "Lambda's measurement, in microseconds"
    );
    assert!(
        spans.iter().all(|s| s.name != "extensionOverhead"),
        "not twice"
    );
}

#[test]
fn each_status_counts_once_and_marks_the_span() {
    let (mut translator, metrics) = new_translator();
    let completions = Completions::default();
    let mut spans = Vec::new();
    for json in [
        fixture!("rapid/warm.json"),
        fixture!("rapid/error.json"),
        fixture!("rapid/timeout.json"),
    ] {
        spans.extend(translator.apply(events(&[json]), &completions).spans);
    }
    let statuses: Vec<(Option<i32>, Option<&Value>)> = spans
        .iter()
        .filter(|s| s.name == "Invocation")
        .map(|s| (s.status.as_ref().map(|st| st.code), attr(s, "error.type")))
        .collect();
    assert_eq!(
        statuses,
        [
            (None, None),
            (
                Some(StatusCode::Error as i32),
                Some(&Value::StringValue("Runtime.HandlerError".into()))
            ),
            (
                Some(StatusCode::Error as i32),
                Some(&Value::StringValue("timeout".into()))
            ),
        ]
    );
    let report = metrics_report(&metrics);
    assert_eq!(value(&report, "faas.invocations"), 3);
    assert_eq!(value(&report, "faas.errors"), 1);
    assert_eq!(value(&report, "faas.timeouts"), 1);
    assert_eq!(value(&report, "faas.coldstarts"), 1, "the first invocation");
}

fn metrics_report(
    metrics: &FaasMetrics,
) -> Vec<opentelemetry_proto::tonic::metrics::v1::ResourceMetrics> {
    let Some(Payload::Metrics(report)) = metrics.take_report() else {
        panic!("no report")
    };
    report
}

fn value(report: &[opentelemetry_proto::tonic::metrics::v1::ResourceMetrics], name: &str) -> i64 {
    let metric = report[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    match &metric.data {
        Some(Data::Sum(sum)) => match sum.data_points[0].value {
            Some(number_data_point::Value::AsInt(v)) => v,
            _ => panic!(),
        },
        _ => panic!("{metric:?}"),
    }
}

/// `otel_sidecar.telemetry_api.skipped` for `reason`.
fn skipped(
    report: &[opentelemetry_proto::tonic::metrics::v1::ResourceMetrics],
    reason: &str,
) -> i64 {
    let metric = report[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "otel_sidecar.telemetry_api.skipped")
        .expect("skipped");
    let Some(Data::Sum(sum)) = &metric.data else {
        panic!()
    };
    sum.data_points
        .iter()
        .find(|p| {
            p.attributes[0]
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
                == Some(&Value::StringValue(reason.into()))
        })
        .and_then(|p| match p.value {
            Some(number_data_point::Value::AsInt(v)) => Some(v),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {reason}"))
}

/// Runs `batches` through a translator as the listener does (skips counted), and returns the
/// invocation spans' request ids, the ended ids and the metrics.
fn run(
    batches: &[Vec<Event>],
) -> (
    Vec<String>,
    Vec<String>,
    Vec<opentelemetry_proto::tonic::metrics::v1::ResourceMetrics>,
) {
    let (mut translator, metrics) = new_translator();
    let completions = Completions::default();
    let mut invocations = Vec::new();
    let mut ended = Vec::new();
    let mut collect = |produced: Produced, invocations: &mut Vec<String>| {
        metrics.skipped(produced.skipped.iter().map(Skipped::reason));
        ended.extend(produced.ended);
        invocations.extend(
            produced
                .spans
                .iter()
                .filter(|s| s.name == "Invocation")
                .filter_map(|s| match attr(s, "faas.invocation_id") {
                    Some(Value::StringValue(id)) => Some(id.clone()),
                    _ => None,
                }),
        );
    };
    for batch in batches {
        let produced = translator.apply(batch.clone(), &completions);
        collect(produced, &mut invocations);
    }
    collect(translator.drain(&completions), &mut invocations);
    (invocations, ended, metrics_report(&metrics))
}

const WARM: &str = "2f9c4e1a-5b6d-4c7e-8f90-a1b2c3d4e5f6";
const ERROR: &str = "0f3a5b2c-7e31-4c8e-9a0b-5d4c3b2a1f00";

#[test]
fn a_redelivered_batch_counts_nothing_twice() {
    let warm = events(&[fixture!("rapid/warm.json")]);
    let (invocations, ended, report) = run(&[warm.clone(), warm]);
    assert_eq!(invocations, [WARM]);
    assert_eq!(value(&report, "faas.invocations"), 1);
    assert_eq!(skipped(&report, "duplicate"), 3);
    assert_eq!(
        ended.len(),
        4,
        "every runtimeDone and report still ends the wait"
    );
}

#[test]
fn a_redelivered_init_is_measured_once() {
    let cold = events(&[fixture!("rapid/cold.json")]);
    let init: Vec<Event> = cold[..3].to_vec();
    let (invocations, _, report) = run(&[cold, init]);
    assert_eq!(invocations, [REQUEST]);
    assert_eq!(skipped(&report, "duplicate"), 2, "initStart and initReport");
    let histogram = report[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "faas.init_duration")
        .and_then(|m| match &m.data {
            Some(Data::Histogram(h)) => Some(h.data_points[0].count),
            _ => None,
        });
    assert_eq!(histogram, Some(1));
}

#[test]
fn records_out_of_order_in_a_batch_are_put_in_time_order() {
    let mut error = events(&[fixture!("rapid/error.json")]);
    error.reverse();
    let (invocations, _, report) = run(&[error]);
    assert_eq!(invocations, [ERROR]);
    assert_eq!(value(&report, "faas.invocations"), 1);
    assert_eq!(value(&report, "faas.errors"), 1);
    for reason in ["unknown_request_id", "duplicate", "late"] {
        assert_eq!(skipped(&report, reason), 0, "{reason}");
    }
}

#[test]
fn a_report_before_its_runtime_done_counts_once_and_the_late_one_is_skipped() {
    let all = events(&[fixture!("rapid/error.json")]);
    let (done, rest): (Vec<Event>, Vec<Event>) = all
        .into_iter()
        .partition(|e| matches!(e.body, EventBody::RuntimeDone(_)));
    let (invocations, ended, report) = run(&[rest, done]);
    assert_eq!(invocations, [ERROR], "emitted at the report");
    assert_eq!(value(&report, "faas.invocations"), 1);
    assert_eq!(value(&report, "faas.errors"), 1, "the report's status");
    assert_eq!(skipped(&report, "late"), 1);
    assert_eq!(ended, [ERROR, ERROR]);
}

#[test]
fn records_for_a_request_that_never_started_are_skipped_but_end_the_wait() {
    let warm = events(&[fixture!("rapid/warm.json")]);
    let orphans: Vec<Event> = warm
        .into_iter()
        .filter(|e| !matches!(e.body, EventBody::Start(_)))
        .collect();
    let (invocations, ended, report) = run(&[orphans]);
    assert!(invocations.is_empty());
    assert_eq!(value(&report, "faas.invocations"), 0);
    assert_eq!(value(&report, "faas.errors"), 0);
    assert_eq!(skipped(&report, "unknown_request_id"), 2);
    assert_eq!(ended, [WARM, WARM]);
}

#[test]
fn an_invocation_without_runtime_done_or_report_is_still_counted_and_emitted_once() {
    let starts = events(&[fixture!("rapid/warm.json"), fixture!("rapid/error.json")])
        .into_iter()
        .filter(|e| !matches!(e.body, EventBody::RuntimeDone(_)))
        .filter(|e| !matches!(&e.body, EventBody::Report(r) if r.request_id == ERROR))
        .collect::<Vec<_>>();
    // warm: start and report (its runtimeDone never came); error: only its start (drained at SHUTDOWN).
    let (invocations, _, report) = run(&[starts]);
    assert_eq!(invocations, [WARM, ERROR]);
    assert_eq!(value(&report, "faas.invocations"), 2);
}

#[test]
fn provisioned_concurrency_init_stands_alone_and_is_not_a_cold_start() {
    let (mut translator, metrics) = new_translator();
    let completions = Completions::default();
    let provisioned =
        fixture!("platform.initStart.json").replace("on-demand", "provisioned-concurrency");
    let report =
        fixture!("platform.initReport.json").replace("on-demand", "provisioned-concurrency");
    let produced = translator.apply(events(&[&provisioned, &report]), &completions);
    let init = named(&produced.spans, "Initialization");
    assert!(init.parent_span_id.is_empty());
    assert_eq!(attr(init, "faas.coldstart"), None);
    translator.apply(
        events(&[
            fixture!("platform.start.json"),
            fixture!("platform.report.json"),
        ]),
        &completions,
    );
    assert_eq!(counter(&metrics, "faas.coldstarts"), 0);
}

#[test]
fn restore_goes_beside_the_first_invocation() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    // The fixtures' restore happened an hour later than the invocation's; move it just before.
    let earlier = |json: &str| {
        json.replace("T11:00:00", "T10:00:00")
            .replace(":00:00.", ":00:00.0")
    };
    let produced = translator.apply(
        events(&[
            &earlier(fixture!("platform.restoreStart.json")),
            &earlier(fixture!("platform.restoreRuntimeDone.json")),
            &earlier(fixture!("platform.restoreReport.json")),
        ]),
        &completions,
    );
    assert!(produced.spans.is_empty());
    let shifted = fixture!("rapid/warm.json").replace("T10:00:01.", "T10:00:00.3");
    let spans = translator.apply(events(&[&shifted]), &completions).spans;
    let cold = named(&spans, COLD_START);
    let invocation = named(&spans, "Invocation");
    let restore = named(&spans, "Restore");
    assert_eq!(restore.parent_span_id, cold.span_id);
    assert_eq!(invocation.parent_span_id, cold.span_id);
    assert_eq!(duration_ms(restore), 182.4);
    assert!(assert_nested(&spans) >= 6);
}

#[test]
fn shutdown_drains_open_invocations_and_a_lonely_init() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    translator.apply(
        events(&[
            fixture!("platform.initStart.json"),
            fixture!("platform.initReport.json"),
        ]),
        &completions,
    );
    let drained = translator.drain(&completions).spans;
    assert_eq!(
        named(&drained, "Initialization").parent_span_id,
        Vec::<u8>::new()
    );

    let (mut translator, _) = new_translator();
    translator.apply(
        events(&[
            fixture!("platform.start.json"),
            fixture!("platform.runtimeDone.json"),
        ]),
        &completions,
    );
    assert_eq!(translator.open_invocations(), 1);
    let drained = translator.drain(&completions).spans;
    let invocation = named(&drained, "Invocation");
    assert_eq!(
        attr(invocation, "aws.lambda.status"),
        Some(&Value::StringValue("success".into()))
    );
    assert_eq!(
        attr(invocation, "aws.lambda.billed_duration_ms"),
        None,
        "no report came"
    );
    assert_eq!(translator.open_invocations(), 0);
    assert!(
        translator.drain(&completions).spans.is_empty(),
        "emitted once"
    );
}

#[test]
fn log_lines_belong_to_the_invocation_they_were_written_in() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    handler_root_under_xray(&completions);
    let (during, _) = until_report(fixture!("rapid/cold.json"));
    let after = fixture!("function.text.json").replace("10:00:00.055Z\",", "10:00:00.070Z\",");
    let mut batch = events(&[fixture!("extension.json"), &after]);
    batch.extend(during);
    let produced = translator.apply(batch, &completions);
    let ids: Vec<Option<&str>> = produced
        .logs
        .iter()
        .map(|l| testkit::otlp_view::string_attribute(&l.attributes, "faas.invocation_id"))
        .collect();
    assert_eq!(
        ids,
        [None, Some(REQUEST), None],
        "before start, between start and runtimeDone, after runtimeDone (in time order)"
    );
    let during = &produced.logs[1];
    assert_eq!(during.trace_id, hex::<16>(XRAY_TRACE).unwrap());
    assert_eq!(
        during.span_id,
        vec![0x11; 8],
        "linked to the handler's root span"
    );
}

#[test]
fn too_many_open_invocations_are_emitted_oldest_first() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    let mut emitted = 0;
    for i in 0..(MAX_OPEN + 3) {
        let start = fixture!("platform.start.json").replace(REQUEST, &format!("request-{i}"));
        emitted += translator
            .apply(events(&[&start]), &completions)
            .spans
            .len();
    }
    assert_eq!(emitted, 3);
    assert_eq!(translator.open_invocations(), MAX_OPEN);
}
