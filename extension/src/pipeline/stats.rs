//! The sidecar's own health counters, exported as OTLP metrics under the scope `otel-sidecar`:
//! `otel_sidecar.export.duration` and `otel_sidecar.post_runtime.duration` (histograms, ms),
//! `otel_sidecar.exports` (by `outcome`), `otel_sidecar.export.retries`, `otel_sidecar.dropped` (buffer cap,
//! by `signal`) and `otel_sidecar.rejected` (refused by the backend, by `signal`). All cumulative.

use super::attributes::string as attr;
use super::histogram::Hist;
use super::metric_points::{Points, now_unix_nanos};
use super::payload::Payload;
use super::signal::{PerSignal, Signal};
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Histogram bucket bounds in milliseconds.
const BOUNDS_MS: [f64; 12] = [
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
];

/// Milliseconds of `duration`, as the histograms record them.
fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[derive(Debug)]
struct Inner {
    export_duration: Hist,
    post_runtime: Hist,
    exports_ok: u64,
    exports_failed: u64,
    retries: u64,
    rejected: PerSignal<u64>,
    dropped: PerSignal<u64>,
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
            start_unix_nanos: now_unix_nanos(),
            inner: Mutex::new(Inner {
                export_duration: Hist::new(&BOUNDS_MS),
                post_runtime: Hist::new(&BOUNDS_MS),
                exports_ok: 0,
                exports_failed: 0,
                retries: 0,
                rejected: PerSignal::default(),
                dropped: PerSignal::default(),
                version: 0,
                reported_version: 0,
            }),
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
            i.export_duration.record(ms(duration));
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
        self.with(|i| i.rejected[signal] += items);
    }

    /// Time from the function finishing an invocation to the sidecar calling `next`.
    pub fn record_post_runtime(&self, duration: Duration) {
        self.with(|i| i.post_runtime.record(ms(duration)));
    }

    /// Updates the buffer's drop totals.
    pub fn set_dropped(&self, dropped: PerSignal<u64>) {
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
        let points = Points {
            start: self.start_unix_nanos,
            now: now_unix_nanos(),
            attributes: Vec::new(),
        };
        let per_signal = |counts: PerSignal<u64>| {
            counts
                .into_iter()
                .map(|(signal, count)| (vec![attr("signal", signal.as_str())], count))
                .collect()
        };
        let metrics = vec![
            points.histogram(
                "otel_sidecar.export.duration",
                "ms",
                "Duration of one export request, retries included",
                &inner.export_duration,
            ),
            points.histogram(
                "otel_sidecar.post_runtime.duration",
                "ms",
                "Time the sidecar held `next` after the function finished",
                &inner.post_runtime,
            ),
            points.counter(
                "otel_sidecar.export.retries",
                "{item}",
                "Export retries",
                inner.retries,
            ),
            points.counters(
                "otel_sidecar.exports",
                "{item}",
                "Export requests by outcome",
                vec![
                    (vec![attr("outcome", "ok")], inner.exports_ok),
                    (vec![attr("outcome", "failed")], inner.exports_failed),
                ],
            ),
            points.counters(
                "otel_sidecar.dropped",
                "{item}",
                "Items dropped because the buffer was full",
                per_signal(inner.dropped),
            ),
            points.counters(
                "otel_sidecar.rejected",
                "{item}",
                "Items refused by the backend",
                per_signal(inner.rejected),
            ),
        ];
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};

    /// The value of each point of the per-signal counter `name`, by its `signal` attribute.
    fn by_signal(report: &[ResourceMetrics], name: &str) -> Vec<(String, i64)> {
        let metric = report[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap();
        let Some(Data::Sum(sum)) = &metric.data else {
            panic!("{name} is not a sum")
        };
        sum.data_points
            .iter()
            .map(|p| {
                assert_eq!(p.attributes.len(), 1);
                let Some(number_data_point::Value::AsInt(n)) = p.value else {
                    panic!("{p:?}")
                };
                let signal = match p.attributes[0]
                    .value
                    .as_ref()
                    .and_then(|v| v.value.as_ref())
                {
                    Some(Value::StringValue(s)) => s.clone(),
                    other => panic!("{other:?}"),
                };
                (signal, n)
            })
            .collect()
    }

    #[test]
    fn reports_only_when_something_changed() {
        let stats = Stats::new();
        assert!(stats.take_report(&[]).is_none());
        stats.record_post_runtime(Duration::from_micros(300));
        let dropped = PerSignal::from_fn(|signal| match signal {
            Signal::Traces => 2,
            Signal::Metrics => 0,
            Signal::Logs => 1,
        });
        stats.set_dropped(dropped);
        let Some(Payload::Metrics(report)) = stats.take_report(&[]) else {
            panic!("expected a report")
        };
        assert_eq!(
            by_signal(&report, "otel_sidecar.dropped"),
            [
                ("metrics".into(), 0),
                ("traces".into(), 2),
                ("logs".into(), 1)
            ]
        );
        let post = report[0].scope_metrics[0]
            .metrics
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
        stats.set_dropped(dropped);
        assert!(
            stats.take_report(&[]).is_none(),
            "same totals are not a change"
        );
    }

    #[test]
    fn rejected_items_are_reported_under_their_own_signal() {
        let stats = Stats::new();
        stats.record_rejected(Signal::Logs, 4);
        stats.record_rejected(Signal::Metrics, 1);
        stats.record_rejected(Signal::Logs, 2);
        let Some(Payload::Metrics(report)) = stats.take_report(&[]) else {
            panic!("expected a report")
        };
        assert_eq!(
            by_signal(&report, "otel_sidecar.rejected"),
            [
                ("metrics".into(), 1),
                ("traces".into(), 0),
                ("logs".into(), 6)
            ]
        );
    }
}
