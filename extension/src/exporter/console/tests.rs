//! Unit tests of the console summary (span trees, changed metric series, rounding).

use super::*;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

fn span(name: &str, id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64) -> Span {
    Span {
        name: name.into(),
        trace_id: vec![0xab; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        start_time_unix_nano: start_ms * 1_000_000,
        end_time_unix_nano: end_ms * 1_000_000,
        status: (name == "ListBuckets").then(|| Status {
            code: 2,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn renders_a_span_tree_and_metrics() {
    let traces = Payload::Traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![
                span("ListBuckets", 2, Some(1), 2, 10),
                span("GET /buckets", 1, None, 0, 12),
                span("auth", 3, Some(1), 1, 2),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let point = NumberDataPoint {
        value: Some(number_data_point::Value::AsInt(3)),
        attributes: vec![KeyValue {
            key: "route".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("/buckets".into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let metrics = Payload::Metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "requests".into(),
                unit: "{request}".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![point],
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let text = Console::default().render(&[&traces, &metrics]);
    let expected = format!(
        "[otel] trace {} (3 spans)\n  GET /buckets 12.00 ms\n    auth 1.00 ms\n    ListBuckets 8.00 ms ERROR\n[otel] metric requests{{route=/buckets}} = 3\n",
        "ab".repeat(16)
    );
    assert_eq!(text, expected);
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

#[test]
fn renders_each_kind_of_metric_point() {
    let attributes = vec![KeyValue {
        key: "op".into(),
        value: Some(AnyValue {
            value: Some(Value::BoolValue(true)),
        }),
        ..Default::default()
    }];
    let metrics = vec![
        metric(
            "temp",
            "Cel",
            Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    value: Some(number_data_point::Value::AsDouble(21.5)),
                    ..Default::default()
                }],
            }),
        ),
        metric(
            "latency",
            "ms",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attributes.clone(),
                    count: 4,
                    sum: Some(10.5),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "size",
            "By",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    count: 2,
                    sum: None,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "rtt",
            "",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes,
                    count: 3,
                    sum: 1.0,
                    ..Default::default()
                }],
            }),
        ),
    ];
    let payload = Payload::Metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    assert_eq!(
        Console::default().render(&[&payload]),
        "[otel] metric temp = 21.5 Cel\n\
         [otel] metric latency{op=true} count=4 sum=10.50 ms\n\
         [otel] metric size count=2 sum=0.00 By\n\
         [otel] metric rtt{op=true} count=3 sum=1.00\n"
    );
}

fn counter(value: i64, route: &str) -> Payload {
    Payload::Metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![metric(
                "requests",
                "",
                Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        value: Some(number_data_point::Value::AsInt(value)),
                        attributes: vec![KeyValue {
                            key: "route".into(),
                            value: Some(AnyValue {
                                value: Some(Value::StringValue(route.into())),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            )],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

#[test]
fn prints_a_cumulative_series_only_when_it_changed() {
    let console = Console::default();
    assert_eq!(
        console.render(&[&counter(1, "/"), &counter(5, "/private")]),
        "[otel] metric requests{route=/} = 1\n[otel] metric requests{route=/private} = 5\n"
    );
    // Same values again: nothing to say.
    assert_eq!(
        console.render(&[&counter(1, "/"), &counter(5, "/private")]),
        ""
    );
    // One series moved: only that one.
    assert_eq!(
        console.render(&[&counter(2, "/"), &counter(5, "/private")]),
        "[otel] metric requests{route=/} = 2\n"
    );
}

#[test]
fn forgets_past_the_series_bound_instead_of_growing() {
    let console = Console::default();
    for n in 0..REMEMBERED_SERIES + 10 {
        console.render(&[&counter(1, &format!("/{n}"))]);
    }
    let remembered = console.printed.lock().unwrap().len();
    assert!(remembered <= REMEMBERED_SERIES, "{remembered} series kept");
}

#[test]
fn doubles_are_rounded_for_reading() {
    assert_eq!(decimal(2.135_507_999_999_999_7), "2.136");
    assert_eq!(decimal(21.5), "21.5");
    assert_eq!(decimal(3.0), "3");
    assert_eq!(decimal(-0.0001), "0");
}
