//! The sidecar's own health counters, exported as OTLP metrics under the scope `otel-sidecar`:
//! `otel_sidecar.export.duration` and `otel_sidecar.post_runtime.duration` (histograms, ms),
//! `otel_sidecar.exports` (by `outcome`), `otel_sidecar.export.retries`, `otel_sidecar.dropped` (buffer cap,
//! by `signal`) and `otel_sidecar.rejected` (refused by the backend, by `signal`). All cumulative.

use super::payload::{Payload, Signal};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Histogram bucket bounds in milliseconds.
const BOUNDS_MS: [f64; 12] = [
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
];

#[derive(Debug, Clone, Default)]
struct Hist {
    counts: [u64; BOUNDS_MS.len() + 1],
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Hist {
    fn record(&mut self, value: Duration) {
        let ms = value.as_secs_f64() * 1000.0;
        let bucket = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        self.counts[bucket] += 1;
        if self.count == 0 || ms < self.min {
            self.min = ms;
        }
        if ms > self.max {
            self.max = ms;
        }
        self.count += 1;
        self.sum += ms;
    }
}

#[derive(Debug, Default)]
struct Inner {
    export_duration: Hist,
    post_runtime: Hist,
    exports_ok: u64,
    exports_failed: u64,
    retries: u64,
    rejected: [u64; 3],
    dropped: [u64; 3],
    version: u64,
    reported_version: u64,
}

/// Thread-safe counters.
#[derive(Debug)]
pub struct Stats {
    start_unix_nanos: u64,
    inner: Mutex<Inner>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Counters starting now.
    pub fn new() -> Self {
        Self {
            start_unix_nanos: unix_nanos(SystemTime::now()),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.version += 1;
        f(&mut inner)
    }

    /// One export request finished (after its retries).
    pub fn record_export(&self, duration: Duration, ok: bool) {
        self.with(|i| {
            i.export_duration.record(duration);
            if ok {
                i.exports_ok += 1
            } else {
                i.exports_failed += 1
            }
        });
    }

    /// One retry was scheduled.
    pub fn record_retry(&self) {
        self.with(|i| i.retries += 1);
    }

    /// The backend refused `items` of `signal` (partial success or a non-retryable status).
    pub fn record_rejected(&self, signal: Signal, items: u64) {
        self.with(|i| i.rejected[signal.index()] += items);
    }

    /// Time from the function finishing an invocation to the sidecar calling `next`.
    pub fn record_post_runtime(&self, duration: Duration) {
        self.with(|i| i.post_runtime.record(duration));
    }

    /// Updates the buffer's drop totals.
    pub fn set_dropped(&self, dropped: [u64; 3]) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.dropped != dropped {
            inner.dropped = dropped;
            inner.version += 1;
        }
    }

    /// Post-runtime histogram summary `(count, sum_ms, max_ms)`, for logs and tests.
    pub fn post_runtime_summary(&self) -> (u64, f64, f64) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            inner.post_runtime.count,
            inner.post_runtime.sum,
            inner.post_runtime.max,
        )
    }

    /// The counters as an OTLP metrics payload, if anything changed since the last call.
    pub fn take_report(&self, resource_attributes: &[KeyValue]) -> Option<Payload> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.version == inner.reported_version {
            return None;
        }
        inner.reported_version = inner.version;
        let now = unix_nanos(SystemTime::now());
        let start = self.start_unix_nanos;
        let mut metrics = vec![
            histogram(
                "otel_sidecar.export.duration",
                "Duration of one export request, retries included",
                &inner.export_duration,
                start,
                now,
            ),
            histogram(
                "otel_sidecar.post_runtime.duration",
                "Time the sidecar held `next` after the function finished",
                &inner.post_runtime,
                start,
                now,
            ),
            sum(
                "otel_sidecar.export.retries",
                "Export retries",
                vec![(vec![], inner.retries)],
                start,
                now,
            ),
            sum(
                "otel_sidecar.exports",
                "Export requests by outcome",
                vec![
                    (vec![attr("outcome", "ok")], inner.exports_ok),
                    (vec![attr("outcome", "failed")], inner.exports_failed),
                ],
                start,
                now,
            ),
        ];
        let per_signal = |counts: [u64; 3]| {
            Signal::ALL
                .iter()
                .map(|s| (vec![attr("signal", s.as_str())], counts[s.index()]))
                .collect()
        };
        metrics.push(sum(
            "otel_sidecar.dropped",
            "Items dropped because the buffer was full",
            per_signal(inner.dropped),
            start,
            now,
        ));
        metrics.push(sum(
            "otel_sidecar.rejected",
            "Items refused by the backend",
            per_signal(inner.rejected),
            start,
            now,
        ));
        Some(Payload::Metrics(vec![ResourceMetrics {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: resource_attributes.to_vec(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "otel-sidecar".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }]))
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn sum(
    name: &str,
    description: &str,
    points: Vec<(Vec<KeyValue>, u64)>,
    start: u64,
    now: u64,
) -> Metric {
    let data_points = points
        .into_iter()
        .map(|(attributes, value)| NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
            ..Default::default()
        })
        .collect();
    Metric {
        name: name.into(),
        description: description.into(),
        unit: "{item}".into(),
        data: Some(Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn histogram(name: &str, description: &str, hist: &Hist, start: u64, now: u64) -> Metric {
    let point = HistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: hist.count,
        sum: Some(hist.sum),
        bucket_counts: hist.counts.to_vec(),
        explicit_bounds: BOUNDS_MS.to_vec(),
        min: (hist.count > 0).then_some(hist.min),
        max: (hist.count > 0).then_some(hist.max),
        ..Default::default()
    };
    Metric {
        name: name.into(),
        description: description.into(),
        unit: "ms".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![point],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_only_when_something_changed() {
        let stats = Stats::new();
        assert!(stats.take_report(&[]).is_none());
        stats.record_post_runtime(Duration::from_micros(300));
        stats.set_dropped([2, 0, 1]);
        let Some(Payload::Metrics(report)) = stats.take_report(&[]) else {
            panic!("expected a report")
        };
        let metrics = &report[0].scope_metrics[0].metrics;
        let dropped = metrics
            .iter()
            .find(|m| m.name == "otel_sidecar.dropped")
            .unwrap();
        let Some(Data::Sum(sum)) = &dropped.data else {
            panic!()
        };
        let traces = sum
            .data_points
            .iter()
            .find(|p| p.attributes == vec![attr("signal", "traces")])
            .unwrap();
        assert_eq!(traces.value, Some(number_data_point::Value::AsInt(2)));
        let post = metrics
            .iter()
            .find(|m| m.name == "otel_sidecar.post_runtime.duration")
            .unwrap();
        let Some(Data::Histogram(h)) = &post.data else {
            panic!()
        };
        assert_eq!(h.data_points[0].count, 1);
        assert_eq!(
            h.data_points[0].bucket_counts[1], 1,
            "0.3 ms falls in the (0.25, 0.5] bucket"
        );
        assert!(stats.take_report(&[]).is_none());
        stats.set_dropped([2, 0, 1]);
        assert!(
            stats.take_report(&[]).is_none(),
            "same totals are not a change"
        );
    }
}
