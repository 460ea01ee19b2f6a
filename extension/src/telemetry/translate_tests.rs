//! Scenario tests of the translator, built from the fixtures in tests/fixtures/telemetry/.

use super::*;
use crate::lifecycle::completion::RootSpan;
use crate::pipeline::Payload;
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
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn counter(metrics: &FaasMetrics, name: &str) -> i64 {
    let Some(Payload::Metrics(report)) = metrics.take_report() else {
        panic!("no report")
    };
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

fn handler_root_under_xray(completions: &Completions) {
    completions.mark(
        REQUEST.into(),
        RootSpan {
            trace_id: hex::<16>(XRAY_TRACE).unwrap().to_vec(),
            span_id: vec![0x11; 8],
            parent_span_id: hex::<8>(XRAY_PARENT).unwrap().to_vec(),
        },
    );
}

#[test]
fn a_cold_start_becomes_one_tree_with_the_handlers_spans() {
    let (mut translator, metrics) = new_translator();
    let completions = Completions::default();
    // First batch: init and the invocation up to runtimeDone (the handler exported its root span).
    handler_root_under_xray(&completions);
    let first = translator.apply(
        events(&[
            fixture!("platform.initStart.json"),
            fixture!("platform.initRuntimeDone.json"),
            fixture!("platform.initReport.json"),
            fixture!("platform.start.json"),
            fixture!("platform.runtimeDone.json"),
        ]),
        &completions,
    );
    assert!(first.spans.is_empty(), "spans wait for the report");
    assert!(
        first.ended_abnormally.is_empty(),
        "success: the root span is awaited"
    );
    // Next thaw: the report.
    let second = translator.apply(events(&[fixture!("platform.report.json")]), &completions);
    let spans = second.spans;
    let invocation = named(&spans, "Invocation");
    assert_eq!(invocation.trace_id, hex::<16>(XRAY_TRACE).unwrap());
    assert_eq!(
        invocation.span_id,
        hex::<8>(XRAY_PARENT).unwrap(),
        "Lambda's span is the parent the handler's root span points at"
    );
    assert!(invocation.parent_span_id.is_empty());
    assert_eq!(
        invocation.end_time_unix_nano - invocation.start_time_unix_nano,
        12_000_000
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
    assert_eq!(init.parent_span_id, invocation.span_id);
    assert_eq!(
        init.end_time_unix_nano - init.start_time_unix_nano,
        43_210_000
    );
    assert_eq!(attr(init, "faas.coldstart"), Some(&Value::BoolValue(true)));
    for child in [
        "responseLatency",
        "responseDuration",
        "runtimeOverhead",
        "postRuntimeExtensions",
    ] {
        assert_eq!(
            named(&spans, child).parent_span_id,
            invocation.span_id,
            "{child}"
        );
    }
    assert_eq!(spans.len(), 6);
    assert_eq!(translator.open_invocations(), 0);
    assert_eq!(counter(&metrics, "faas.coldstarts"), 1);
}

#[test]
fn each_status_counts_once_and_marks_the_span() {
    let (mut translator, metrics) = new_translator();
    let completions = Completions::default();
    let produced = translator.apply(
        events(&[
            fixture!("platform.runtimeDone.json"),
            fixture!("platform.runtimeDone.error.json"),
            fixture!("platform.runtimeDone.failure.json"),
            fixture!("platform.runtimeDone.timeout.json"),
        ]),
        &completions,
    );
    assert_eq!(
        produced.ended_abnormally,
        [
            "0f3a5b2c-7e31-4c8e-9a0b-5d4c3b2a1f00",
            "8b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
            "c4d5e6f7-0819-4a2b-bc3d-4e5f60718293"
        ]
    );
    let report = metrics.take_report();
    assert!(report.is_some());
    // A report for an already counted invocation does not count it again.
    let mut spans = translator
        .apply(events(&[fixture!("platform.report.json")]), &completions)
        .spans;
    spans.extend(translator.drain(&completions).spans);
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
                Some(&Value::StringValue("Runtime.ExitError".into()))
            ),
            (
                Some(StatusCode::Error as i32),
                Some(&Value::StringValue("Sandbox.Timedout".into()))
            ),
        ]
    );
    assert_eq!(counter(&metrics, "faas.invocations"), 4);
    let fresh = Arc::new(FaasMetrics::new("http"));
    let mut again = Translator::new(fresh.clone(), "http");
    again.apply(
        events(&[
            fixture!("platform.runtimeDone.error.json"),
            fixture!("platform.runtimeDone.failure.json"),
            fixture!("platform.runtimeDone.timeout.json"),
        ]),
        &completions,
    );
    let Some(Payload::Metrics(report)) = fresh.take_report() else {
        panic!()
    };
    let value = |name: &str| {
        report[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| match &m.data {
                Some(Data::Sum(sum)) => sum.data_points[0].value,
                _ => None,
            })
    };
    assert_eq!(
        value("faas.errors"),
        Some(number_data_point::Value::AsInt(2))
    );
    assert_eq!(
        value("faas.timeouts"),
        Some(number_data_point::Value::AsInt(1))
    );
    assert_eq!(
        value("faas.coldstarts"),
        Some(number_data_point::Value::AsInt(0))
    );
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
fn restore_goes_under_the_first_invocation() {
    let (mut translator, _) = new_translator();
    let completions = Completions::default();
    let produced = translator.apply(
        events(&[
            fixture!("platform.restoreStart.json"),
            fixture!("platform.restoreRuntimeDone.json"),
            fixture!("platform.restoreReport.json"),
            fixture!("platform.start.json"),
            fixture!("platform.runtimeDone.json"),
            fixture!("platform.report.json"),
        ]),
        &completions,
    );
    let invocation = named(&produced.spans, "Invocation");
    let restore = named(&produced.spans, "Restore");
    assert_eq!(restore.parent_span_id, invocation.span_id);
    assert_eq!(
        restore.end_time_unix_nano - restore.start_time_unix_nano,
        182_400_000
    );
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
    let produced = translator.apply(
        events(&[
            fixture!("function.text.json"),
            fixture!("platform.start.json"),
            fixture!("function.text.json"),
            fixture!("platform.runtimeDone.json"),
            fixture!("extension.json"),
        ]),
        &completions,
    );
    let ids: Vec<Option<&str>> = produced
        .logs
        .iter()
        .map(|l| super::super::logs::attribute(l, "faas.invocation_id"))
        .collect();
    assert_eq!(ids, [None, Some(REQUEST), None]);
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
