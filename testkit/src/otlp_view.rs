//! Flattened views of decoded OTLP data, so that tests can assert on a span's or a metric
//! point's attributes without walking the resource/scope nesting every time.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::Value;
use std::collections::BTreeMap;

/// Attribute map with values as JSON (strings, numbers, booleans, arrays).
pub type Attributes = BTreeMap<String, Value>;

/// One span with its resource and scope.
#[derive(Clone, Debug)]
pub struct FlatSpan {
    /// The span's name.
    pub name: String,
    /// Lower-case hex, 32 digits.
    pub trace_id: String,
    /// Lower-case hex, 16 digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `SpanKind` as its protobuf number (1 internal, 2 server, 3 client...).
    pub kind: i32,
    /// The span's own attributes.
    pub attributes: Attributes,
    /// Its resource's attributes (`service.name`, `faas.name`…).
    pub resource: Attributes,
    /// Its instrumentation scope's name (empty if none).
    pub scope: String,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// Start time, in nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// End time, in nanoseconds since the Unix epoch.
    pub end_unix_nano: u64,
}

impl FlatSpan {
    /// The attribute `key` as a string, if it is one.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }
}

/// One metric data point with its metric's identity and resource.
#[derive(Clone, Debug)]
pub struct FlatMetricPoint {
    /// The metric's name.
    pub name: String,
    /// The metric's unit (UCUM, e.g. `ms`, `By`; empty if none).
    pub unit: String,
    /// The data point's attributes.
    pub attributes: Attributes,
    /// Its resource's attributes.
    pub resource: Attributes,
    /// Sum or gauge value; for a histogram, its sum.
    pub value: f64,
    /// Histogram count (0 for sums and gauges).
    pub count: u64,
}

/// Every span of every request, flattened.
pub fn spans(requests: &[ExportTraceServiceRequest]) -> Vec<FlatSpan> {
    let mut out = Vec::new();
    for request in requests {
        for resource_spans in &request.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            for scope_spans in &resource_spans.scope_spans {
                let scope = scope_spans
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                for span in &scope_spans.spans {
                    out.push(FlatSpan {
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        kind: span.kind,
                        attributes: attributes(&span.attributes),
                        resource: resource.clone(),
                        scope: scope.clone(),
                        status_code: span.status.as_ref().map(|s| s.code).unwrap_or_default(),
                        start_unix_nano: span.start_time_unix_nano,
                        end_unix_nano: span.end_time_unix_nano,
                    });
                }
            }
        }
    }
    out
}

/// Every data point of every metric of every request, flattened.
pub fn metric_points(requests: &[ExportMetricsServiceRequest]) -> Vec<FlatMetricPoint> {
    let mut out = Vec::new();
    for request in requests {
        for resource_metrics in &request.resource_metrics {
            let resource = resource_metrics
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            for scope_metrics in &resource_metrics.scope_metrics {
                for metric in &scope_metrics.metrics {
                    let point = |attrs: &[KeyValue], value: f64, count: u64| FlatMetricPoint {
                        name: metric.name.clone(),
                        unit: metric.unit.clone(),
                        attributes: attributes(attrs),
                        resource: resource.clone(),
                        value,
                        count,
                    };
                    match &metric.data {
                        Some(Data::Sum(sum)) => out.extend(
                            sum.data_points
                                .iter()
                                .map(|p| point(&p.attributes, number(&p.value), 0)),
                        ),
                        Some(Data::Gauge(gauge)) => out.extend(
                            gauge
                                .data_points
                                .iter()
                                .map(|p| point(&p.attributes, number(&p.value), 0)),
                        ),
                        Some(Data::Histogram(histogram)) => out.extend(
                            histogram
                                .data_points
                                .iter()
                                .map(|p| point(&p.attributes, p.sum.unwrap_or_default(), p.count)),
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

fn number(
    value: &Option<opentelemetry_proto::tonic::metrics::v1::number_data_point::Value>,
) -> f64 {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as V;
    match value {
        Some(V::AsDouble(d)) => *d,
        Some(V::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

/// Lower-case hex of an id (empty for an empty id).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of attribute `key` among `kvs`, as sent.
pub fn attribute_value<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

/// The attribute `key` among `kvs` as a string, if it is one.
pub fn string_attribute<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute_value(kvs, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// Key-values as a JSON-valued map.
pub fn attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter()
        .map(|kv| (kv.key.clone(), any_value_json(kv.value.as_ref())))
        .collect()
}

fn any_value_json(value: Option<&AnyValue>) -> Value {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Value::from(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|v| any_value_json(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            Value::Object(attributes(&kv.values).into_iter().collect())
        }
        Some(any_value::Value::BytesValue(b)) => Value::from(hex(b)),
        _ => Value::Null,
    }
}
