//! Console exporter: a compact, human-readable summary on stdout (CloudWatch Logs in Lambda, the terminal
//! locally): each trace as an indented span tree with durations, each metric series whose value changed
//! since the last summary as `name value`, and log record counts. The zero-config default.

use crate::pipeline::Payload;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

/// Most metric series whose last printed value is remembered; past it the memory starts over (every
/// series is printed once more), so a function creating series without end cannot grow the sidecar.
const REMEMBERED_SERIES: usize = 4096;

/// The console summary. Metrics arrive cumulative, so most series repeat their last value at every
/// flush: only the series whose value changed since the last summary are printed.
#[derive(Debug, Default)]
pub struct Console {
    printed: Mutex<HashMap<String, String>>,
}

impl Console {
    /// Prints `payloads` to stdout (one write, so lines of concurrent writers do not interleave).
    pub fn print(&self, payloads: &[&Payload]) {
        let text = self.render(payloads);
        if !text.is_empty() {
            // Nothing useful to do if stdout is gone.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }

    /// The summary text; remembers the metric values it shows.
    pub fn render(&self, payloads: &[&Payload]) -> String {
        let mut out = String::new();
        let mut spans: Vec<&Span> = Vec::new();
        let mut points = Vec::new();
        let mut log_records = 0u64;
        for payload in payloads {
            match payload {
                Payload::Traces(list) => spans.extend(
                    list.iter()
                        .flat_map(|r| &r.scope_spans)
                        .flat_map(|s| &s.spans),
                ),
                Payload::Metrics(list) => {
                    for metric in list
                        .iter()
                        .flat_map(|r| &r.scope_metrics)
                        .flat_map(|s| &s.metrics)
                    {
                        points.extend(metric_points(metric));
                    }
                }
                Payload::Logs(_) => log_records += payload.item_count(),
            }
        }
        render_traces(&mut out, spans);
        let mut printed = self.printed.lock().unwrap_or_else(PoisonError::into_inner);
        for (series, reading) in points {
            if printed.get(&series) == Some(&reading) {
                continue;
            }
            let _ = writeln!(out, "[otel] metric {series} {reading}");
            if printed.len() >= REMEMBERED_SERIES && !printed.contains_key(&series) {
                printed.clear();
            }
            printed.insert(series, reading);
        }
        if log_records > 0 {
            let _ = writeln!(out, "[otel] {log_records} log records");
        }
        out
    }
}

/// Each trace as a tree under its roots (spans whose parent is not in the batch), oldest first.
fn render_traces(out: &mut String, spans: Vec<&Span>) {
    let mut traces: BTreeMap<&[u8], Vec<&Span>> = BTreeMap::new();
    for span in spans {
        traces
            .entry(span.trace_id.as_slice())
            .or_default()
            .push(span);
    }
    for (trace_id, spans) in traces {
        let _ = writeln!(
            out,
            "[otel] trace {} ({} spans)",
            hex(trace_id),
            spans.len()
        );
        let ids: Vec<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
        let mut roots: Vec<&Span> = spans
            .iter()
            .copied()
            .filter(|s| !ids.contains(&s.parent_span_id.as_slice()))
            .collect();
        roots.sort_by_key(|s| s.start_time_unix_nano);
        for root in roots {
            tree(out, root, &spans, 1);
        }
    }
}

fn tree(out: &mut String, span: &Span, all: &[&Span], depth: usize) {
    if depth > 32 {
        return; // malformed parent cycles cannot recurse forever
    }
    let ms = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano) as f64
        / 1e6;
    let status = match span.status.as_ref().map(|s| s.code) {
        Some(2) => " ERROR",
        _ => "",
    };
    let _ = writeln!(
        out,
        "{}{} {ms:.2} ms{status}",
        "  ".repeat(depth),
        span.name
    );
    let mut children: Vec<&Span> = all
        .iter()
        .copied()
        .filter(|c| c.parent_span_id == span.span_id && !span.span_id.is_empty())
        .collect();
    children.sort_by_key(|s| s.start_time_unix_nano);
    for child in children {
        tree(out, child, all, depth + 1);
    }
}

/// One `(series, reading)` per data point: the series is `name{attrs}`; the reading `= value unit` for
/// sums and gauges, `count=N sum=S unit` for the distributions (histogram, exponential histogram, summary).
fn metric_points(metric: &Metric) -> Vec<(String, String)> {
    let unit = if metric.unit.is_empty() || metric.unit.starts_with('{') {
        String::new()
    } else {
        format!(" {}", metric.unit)
    };
    let line = |attributes: &[KeyValue], reading: String| {
        (
            format!("{}{}", metric.name, attrs(attributes)),
            format!("{reading}{unit}"),
        )
    };
    let number = |p: &NumberDataPoint| {
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => decimal(d),
            Some(number_data_point::Value::AsInt(i)) => i.to_string(),
            None => "-".into(),
        };
        line(&p.attributes, format!("= {value}"))
    };
    let distribution = |attributes: &[KeyValue], count: u64, sum: f64| {
        line(attributes, format!("count={count} sum={sum:.2}"))
    };
    match &metric.data {
        Some(Data::Sum(s)) => s.data_points.iter().map(number).collect(),
        Some(Data::Gauge(g)) => g.data_points.iter().map(number).collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| distribution(&p.attributes, p.count, p.sum.unwrap_or(0.0)))
            .collect(),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .map(|p| distribution(&p.attributes, p.count, p.sum.unwrap_or(0.0)))
            .collect(),
        Some(Data::Summary(s)) => s
            .data_points
            .iter()
            .map(|p| distribution(&p.attributes, p.count, p.sum))
            .collect(),
        None => Vec::new(),
    }
}

/// A double with at most three decimals and no trailing zeros (`2.135508` → `2.136`, `21.50` → `21.5`).
fn decimal(value: f64) -> String {
    let text = format!("{value:.3}");
    match text.trim_end_matches('0').trim_end_matches('.') {
        "-0" => "0".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

fn attrs(attributes: &[KeyValue]) -> String {
    if attributes.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, value(kv.value.as_ref())))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn value(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(_) => "…".into(),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests;
