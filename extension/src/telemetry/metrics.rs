//! The `faas.*` metrics of the OpenTelemetry FaaS conventions, from Telemetry API events, plus Lambda's
//! billing figures and the Telemetry API side's own counters. Cumulative since the sidecar started (one
//! series per execution environment, told apart by the `faas.instance` resource attribute), taken as a
//! snapshot at each flush rather than one data point per event.
//!
//! | metric | kind | unit | from |
//! |---|---|---|---|
//! | `faas.invocations` | counter | `{invocation}` | each `platform.start`, once: at its `runtimeDone` (or `report`, or when emitted without either) |
//! | `faas.errors` | counter | `{invocation}` | status `error` or `failure` |
//! | `faas.timeouts` | counter | `{invocation}` | status `timeout` |
//! | `faas.coldstarts` | counter | `{coldstart}` | first invocation of the environment (not provisioned) |
//! | `faas.invoke_duration` | histogram | `s` | `runtimeDone.metrics.durationMs` |
//! | `faas.init_duration` | histogram | `s` | `initReport.metrics.durationMs` |
//! | `faas.mem_usage` | histogram | `By` | `report.metrics.maxMemoryUsedMB` |
//! | `aws.lambda.billed_duration` | histogram | `s` | `report.metrics.billedDurationMs` |
//! | `aws.lambda.memory_size` | gauge | `By` | `report.metrics.memorySizeMB` |
//! | `aws.lambda.post_runtime_extensions.duration` | histogram | `s` | the report's `extensionOverhead` span, else `report.time - runtimeDone.time` |
//! | `otel_sidecar.telemetry_api.skipped` | counter | `{record}` | records skipped, by `reason` (`unknown_type`, `malformed`, `unknown_request_id`, `duplicate`, `late`) |
//! | `otel_sidecar.telemetry_api.lambda_dropped` | counter | `{record}` | `platform.logsDropped` |
//!
//! Every `faas.*` point carries `faas.trigger` (from `telemetry_api.faas_trigger`).

use super::events::Status;
use super::otlp;
use super::parse::SkipReason;
use crate::pipeline::Payload;
use crate::pipeline::histogram::Hist;
use crate::pipeline::metric_points::{Points, now_unix_nanos};
use std::sync::{Mutex, PoisonError};

/// Bounds for durations in seconds: 1 ms to 15 min (Lambda's maximum timeout).
const SECONDS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0,
];

/// Bounds for memory in bytes: 64 MiB to 10 GiB (Lambda's range is 128 MB to 10,240 MB).
const BYTES: [f64; 9] = [
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
    2_147_483_648.0,
    4_294_967_296.0,
    8_589_934_592.0,
    10_737_418_240.0,
];

#[derive(Debug)]
struct Inner {
    invocations: u64,
    errors: u64,
    timeouts: u64,
    coldstarts: u64,
    invoke_duration: Hist,
    init_duration: Hist,
    mem_usage: Hist,
    billed_duration: Hist,
    post_runtime: Hist,
    memory_size_bytes: Option<u64>,
    skipped: [u64; SkipReason::ALL.len()],
    lambda_dropped: u64,
    changed: bool,
}

/// What one invocation reported, as far as known.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InvocationFigures {
    /// Status is `error` or `failure`.
    pub error: bool,
    /// Status is `timeout`.
    pub timeout: bool,
    /// The runtime's duration, in ms.
    pub duration_ms: Option<f64>,
}

impl InvocationFigures {
    /// The figures of an invocation that ended with `status` after `duration_ms`.
    pub fn of(status: Option<&Status>, duration_ms: Option<f64>) -> InvocationFigures {
        InvocationFigures {
            error: matches!(status, Some(Status::Error | Status::Failure)),
            timeout: matches!(status, Some(Status::Timeout)),
            duration_ms,
        }
    }
}

/// The aggregates; cheap to update from the listener, read at flush time.
#[derive(Debug)]
pub struct FaasMetrics {
    trigger: &'static str,
    start_unix_nanos: u64,
    inner: Mutex<Inner>,
}

impl FaasMetrics {
    /// Empty aggregates whose points carry `faas.trigger = trigger`.
    pub fn new(trigger: &'static str) -> Self {
        Self {
            trigger,
            start_unix_nanos: now_unix_nanos(),
            inner: Mutex::new(Inner {
                invocations: 0,
                errors: 0,
                timeouts: 0,
                coldstarts: 0,
                invoke_duration: Hist::new(&SECONDS),
                init_duration: Hist::new(&SECONDS),
                mem_usage: Hist::new(&BYTES),
                billed_duration: Hist::new(&SECONDS),
                post_runtime: Hist::new(&SECONDS),
                memory_size_bytes: None,
                skipped: [0; SkipReason::ALL.len()],
                lambda_dropped: 0,
                changed: false,
            }),
        }
    }

    fn with(&self, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.changed = true;
        f(&mut inner);
    }

    /// One finished invocation.
    pub fn invocation(&self, figures: InvocationFigures) {
        self.with(|i| {
            i.invocations += 1;
            i.errors += u64::from(figures.error);
            i.timeouts += u64::from(figures.timeout);
            if let Some(ms) = figures.duration_ms {
                i.invoke_duration.record(ms / 1000.0);
            }
        });
    }

    /// Counts one cold start (`faas.coldstarts`).
    pub fn coldstart(&self) {
        self.with(|i| i.coldstarts += 1);
    }

    /// An init phase's duration.
    pub fn init_duration(&self, ms: f64) {
        self.with(|i| i.init_duration.record(ms / 1000.0));
    }

    /// `platform.report` figures.
    pub fn report(
        &self,
        billed_ms: Option<f64>,
        max_memory_mb: Option<u64>,
        memory_size_mb: Option<u64>,
        post_runtime_ms: Option<f64>,
    ) {
        self.with(|i| {
            if let Some(ms) = billed_ms {
                i.billed_duration.record(ms / 1000.0);
            }
            if let Some(mb) = max_memory_mb {
                i.mem_usage.record(mb as f64 * 1_048_576.0);
            }
            if let Some(mb) = memory_size_mb {
                i.memory_size_bytes = Some(mb.saturating_mul(1_048_576));
            }
            if let Some(ms) = post_runtime_ms {
                i.post_runtime.record(ms / 1000.0);
            }
        });
    }

    /// Counts skipped records by reason.
    pub fn skipped(&self, reasons: impl IntoIterator<Item = SkipReason>) {
        let mut counts = [0u64; SkipReason::ALL.len()];
        for reason in reasons {
            counts[reason.index()] += 1;
        }
        if counts.iter().any(|&n| n > 0) {
            self.with(|i| {
                for (total, n) in i.skipped.iter_mut().zip(counts) {
                    *total += n;
                }
            });
        }
    }

    /// Lambda reported dropping records for this subscriber.
    pub fn lambda_dropped(&self, records: u64) {
        self.with(|i| i.lambda_dropped += records);
    }

    /// A cumulative snapshot, if anything changed since the last one.
    pub fn take_report(&self) -> Option<Payload> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.changed {
            return None;
        }
        inner.changed = false;
        let points = Points {
            start: self.start_unix_nanos,
            now: now_unix_nanos(),
            attributes: vec![otlp::string("faas.trigger", self.trigger)],
        };
        let i = &*inner;
        let mut metrics = vec![
            points.counter(
                "faas.invocations",
                "{invocation}",
                "Invocations",
                i.invocations,
            ),
            points.counter(
                "faas.errors",
                "{invocation}",
                "Invocations that ended in an error or failure",
                i.errors,
            ),
            points.counter(
                "faas.timeouts",
                "{invocation}",
                "Invocations that timed out",
                i.timeouts,
            ),
            points.counter(
                "faas.coldstarts",
                "{coldstart}",
                "Invocations that started an execution environment",
                i.coldstarts,
            ),
            points.histogram(
                "faas.invoke_duration",
                "s",
                "Duration of the function's work per invocation",
                &i.invoke_duration,
            ),
            points.histogram(
                "faas.init_duration",
                "s",
                "Duration of the init phase",
                &i.init_duration,
            ),
            points.histogram(
                "faas.mem_usage",
                "By",
                "Peak memory of the execution environment per invocation",
                &i.mem_usage,
            ),
            points.histogram(
                "aws.lambda.billed_duration",
                "s",
                "Billed duration per invocation",
                &i.billed_duration,
            ),
            points.histogram(
                "aws.lambda.post_runtime_extensions.duration",
                "s",
                "Time extensions held the environment after the runtime finished",
                &i.post_runtime,
            ),
        ];
        if let Some(bytes) = i.memory_size_bytes {
            metrics.push(points.gauge("aws.lambda.memory_size", "By", "Configured memory", bytes));
        }
        let untriggered = Points {
            attributes: Vec::new(),
            ..points
        };
        metrics.push(untriggered.counters(
            "otel_sidecar.telemetry_api.skipped",
            "{record}",
            "Telemetry API records skipped: not understood, or not fitting the invocations seen",
            SkipReason::ALL
                .iter()
                .map(|reason| {
                    (
                        vec![otlp::string("reason", reason.as_str())],
                        i.skipped[reason.index()],
                    )
                })
                .collect(),
        ));
        metrics.push(untriggered.counter(
            "otel_sidecar.telemetry_api.lambda_dropped",
            "{record}",
            "Records Lambda dropped before delivering them (platform.logsDropped)",
            i.lambda_dropped,
        ));
        Some(otlp::metrics(metrics))
    }
}

#[cfg(test)]
mod tests;
