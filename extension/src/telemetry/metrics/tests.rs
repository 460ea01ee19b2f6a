//! Unit tests of the faas.* aggregates.

use super::*;
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, ResourceMetrics, metric::Data, number_data_point,
};

fn find<'a>(report: &'a [ResourceMetrics], name: &str) -> &'a Metric {
    report[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn int(metric: &Metric) -> i64 {
    match &metric.data {
        Some(Data::Sum(sum)) => match sum.data_points[0].value {
            Some(number_data_point::Value::AsInt(v)) => v,
            _ => panic!("not an int"),
        },
        Some(Data::Gauge(gauge)) => match gauge.data_points[0].value {
            Some(number_data_point::Value::AsInt(v)) => v,
            _ => panic!("not an int"),
        },
        _ => panic!("not a number: {metric:?}"),
    }
}

#[test]
fn aggregates_in_conventional_units_and_snapshots_only_changes() {
    let metrics = FaasMetrics::new("http");
    assert!(metrics.take_report().is_none());
    metrics.coldstart();
    metrics.init_duration(43.0);
    metrics.invocation(InvocationFigures {
        duration_ms: Some(12.5),
        ..Default::default()
    });
    metrics.invocation(InvocationFigures {
        error: true,
        duration_ms: Some(3.0),
        ..Default::default()
    });
    metrics.invocation(InvocationFigures {
        timeout: true,
        ..Default::default()
    });
    metrics.report(Some(57.0), Some(24), Some(128), Some(1.5));
    let Some(Payload::Metrics(report)) = metrics.take_report() else {
        panic!("a report")
    };
    assert_eq!(int(find(&report, "faas.invocations")), 3);
    assert_eq!(int(find(&report, "faas.errors")), 1);
    assert_eq!(int(find(&report, "faas.timeouts")), 1);
    assert_eq!(int(find(&report, "faas.coldstarts")), 1);
    assert_eq!(int(find(&report, "aws.lambda.memory_size")), 128 << 20);
    let Some(Data::Histogram(invoke)) = &find(&report, "faas.invoke_duration").data else {
        panic!()
    };
    let point = &invoke.data_points[0];
    assert_eq!(point.count, 2, "the timeout had no duration");
    assert!((point.sum.unwrap() - 0.0155).abs() < 1e-9, "seconds");
    assert_eq!(point.attributes, vec![otlp::string("faas.trigger", "http")]);
    let Some(Data::Histogram(memory)) = &find(&report, "faas.mem_usage").data else {
        panic!()
    };
    assert_eq!(memory.data_points[0].sum, Some(24.0 * 1_048_576.0));
    assert_eq!(find(&report, "faas.mem_usage").unit, "By");
    assert!(metrics.take_report().is_none(), "nothing new");
    metrics.skipped([
        SkipReason::UnknownType,
        SkipReason::Malformed,
        SkipReason::Malformed,
        SkipReason::Duplicate,
    ]);
    let Some(Payload::Metrics(report)) = metrics.take_report() else {
        panic!("a report")
    };
    let Some(Data::Sum(skipped)) = &find(&report, "otel_sidecar.telemetry_api.skipped").data else {
        panic!()
    };
    let by_reason: Vec<(String, Option<number_data_point::Value>)> = skipped
        .data_points
        .iter()
        .map(|p| {
            let reason = match p.attributes[0]
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
            {
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                    s.clone()
                }
                other => panic!("{other:?}"),
            };
            (reason, p.value)
        })
        .collect();
    let n = |v| Some(number_data_point::Value::AsInt(v));
    assert_eq!(
        by_reason,
        [
            ("unknown_type".to_owned(), n(1)),
            ("malformed".to_owned(), n(2)),
            ("unknown_request_id".to_owned(), n(0)),
            ("duplicate".to_owned(), n(1)),
            ("late".to_owned(), n(0)),
        ]
    );
    assert_eq!(int(find(&report, "faas.invocations")), 3, "cumulative");
}
