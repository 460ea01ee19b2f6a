//! One invocation as the Telemetry API reports it, and the spans it becomes: `Invocation` (placed per
//! [`super::spans::place`]) with the report's figures, Lambda's measured sub-phases and the extensions'
//! post-runtime time as children.
//!
//! The `Invocation` span covers what Lambda bills for the invocation: from `platform.start` to
//! `platform.report`, whose `durationMs` spans the runtime and the extensions' post-runtime phase
//! (rapid's `doInvoke`, `internal/lambda/rapid/handlers.go` lines 454-529: invoke, runtime overhead until
//! the runtime's `next`, `runtimeDone`, then `AwaitAgentsReady`). So every child lies inside it:
//! `responseLatency`, `responseDuration` and `runtimeOverhead` (from `runtimeDone`), the function's root
//! span when it is a child (it runs between `start` and the runtime's `next`), and
//! `postRuntimeExtensions` (from `runtimeDone` to `report`; Lambda's own `extensionOverhead` measurement
//! when the report carries one). Event times have millisecond precision, so the span is widened to its
//! children (by at most a millisecond) rather than letting one stick out.

use super::events::{Report, RuntimeDone, Start, UnixNanos};
use super::otlp;
use super::spans::{child_of, children, cover, interval, place, set_status, span};
use super::xray::XrayContext;
use crate::lifecycle::completion::RootSpan;
use opentelemetry_proto::tonic::trace::v1::Span;
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;

/// The name of the post-runtime child: from `runtimeDone` to `report`, what extensions (this one
/// included) cost the invocation.
pub const POST_RUNTIME: &str = "postRuntimeExtensions";

/// The report span in which Lambda measures the extensions' post-runtime phase (rapid's `doInvoke`,
/// `internal/lambda/rapid/handlers.go` lines 521-526, `eventsAPI.SendReportSpan`).
const EXTENSION_OVERHEAD: &str = "extensionOverhead";

/// What is known of one invocation so far.
#[derive(Debug)]
pub struct Invocation {
    /// Its request id.
    pub request_id: String,
    /// `platform.start`.
    pub start: Option<(UnixNanos, Start)>,
    /// Its X-Ray context, from whichever event carried it.
    pub xray: Option<XrayContext>,
    /// `platform.runtimeDone`.
    pub done: Option<(UnixNanos, RuntimeDone)>,
    /// `platform.report`.
    pub report: Option<(UnixNanos, Report)>,
    /// The span id to use when the placement implies none.
    pub fresh_id: [u8; 8],
    /// Already counted in `faas.invocations`.
    pub counted: bool,
    /// The environment's first invocation after an on-demand init.
    pub coldstart: bool,
}

impl Invocation {
    /// A new, empty record of invocation `request_id`.
    pub fn new(request_id: &str) -> Self {
        Self {
            request_id: request_id.to_owned(),
            start: None,
            xray: None,
            done: None,
            report: None,
            fresh_id: otlp::new_span_id(),
            counted: false,
            coldstart: false,
        }
    }

    /// The extensions' post-runtime phase, in ms: Lambda's `extensionOverhead` measurement when the
    /// report carries one (microseconds), else from `runtimeDone` to `report` (event times, milliseconds).
    pub fn post_runtime_ms(&self) -> Option<f64> {
        let (reported, report) = self.report.as_ref()?;
        if let Some(measured) = report.spans.iter().find(|s| s.name == EXTENSION_OVERHEAD) {
            return Some(measured.duration_ms);
        }
        let (done, _) = self.done.as_ref()?;
        Some(reported.saturating_sub(*done) as f64 / 1e6)
    }

    /// The `Invocation` span first, then its children. `root` is the function's root span for this
    /// invocation, if it was received.
    pub fn spans(&self, root: Option<&RootSpan>, trigger: &'static str) -> Vec<Span> {
        let invocation = self;
        let placement = place(invocation.xray, root, invocation.fresh_id);
        let done_at = invocation.done.as_ref().map(|(t, _)| *t);
        let report_at = invocation.report.as_ref().map(|(t, _)| *t);
        let done_ms = invocation
            .done
            .as_ref()
            .and_then(|(_, d)| d.metrics.as_ref()?.duration_ms);
        let reported_ms = invocation
            .report
            .as_ref()
            .and_then(|(_, r)| r.metrics.as_ref()?.duration_ms);
        let start = invocation
            .start
            .as_ref()
            .map(|(t, _)| *t)
            .or_else(|| Some(done_at?.saturating_sub(otlp::ms_to_nanos(done_ms?))))
            .or(done_at)
            .or(report_at)
            .unwrap_or(0);
        let end = [
            done_at,
            report_at,
            reported_ms.map(|ms| start + otlp::ms_to_nanos(ms)),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(start);
        let mut main = span("Invocation", &placement, start, end);
        let attributes = &mut main.attributes;
        attributes.push(otlp::string(
            INVOCATION_ID_ATTRIBUTE,
            invocation.request_id.clone(),
        ));
        attributes.push(otlp::string("faas.trigger", trigger));
        if invocation.coldstart {
            attributes.push(otlp::boolean("faas.coldstart", true));
        }
        if let Some(version) = invocation
            .start
            .as_ref()
            .and_then(|(_, s)| s.version.clone())
        {
            attributes.push(otlp::string("aws.lambda.function_version", version));
        }
        if let Some(ms) = done_ms {
            attributes.push(otlp::double("aws.lambda.runtime_duration_ms", ms));
        }
        if let Some(bytes) = invocation
            .done
            .as_ref()
            .and_then(|(_, d)| d.metrics.as_ref()?.produced_bytes)
        {
            attributes.push(otlp::int(
                "aws.lambda.produced_bytes",
                i64::try_from(bytes).unwrap_or(i64::MAX),
            ));
        }
        if let Some((_, report)) = &invocation.report
            && let Some(m) = &report.metrics
        {
            let figures = [
                ("aws.lambda.duration_ms", m.duration_ms),
                ("aws.lambda.billed_duration_ms", m.billed_duration_ms),
                ("aws.lambda.init_duration_ms", m.init_duration_ms),
                ("aws.lambda.restore_duration_ms", m.restore_duration_ms),
                (
                    "aws.lambda.billed_restore_duration_ms",
                    m.billed_restore_duration_ms,
                ),
            ];
            for (key, value) in figures {
                if let Some(value) = value {
                    attributes.push(otlp::double(key, value));
                }
            }
            for (key, value) in [
                ("aws.lambda.memory_size_mb", m.memory_size_mb),
                ("aws.lambda.max_memory_used_mb", m.max_memory_used_mb),
            ] {
                if let Some(value) = value {
                    attributes.push(otlp::int(key, i64::try_from(value).unwrap_or(i64::MAX)));
                }
            }
        }
        if let Some(ms) = invocation.post_runtime_ms() {
            attributes.push(otlp::double(
                "aws.lambda.post_runtime_extensions_duration_ms",
                ms,
            ));
        }
        let (status, error_type) = match (&invocation.done, &invocation.report) {
            (Some((_, d)), _) if d.status.is_some() => (d.status.clone(), d.error_type.clone()),
            (_, Some((_, r))) => (r.status.clone(), r.error_type.clone()),
            _ => (None, None),
        };
        if invocation.done.is_none() && invocation.report.is_none() {
            main.attributes
                .push(otlp::boolean("aws.lambda.incomplete", true));
        }
        set_status(&mut main, status.as_ref(), error_type.as_deref());

        let mut record_spans = Vec::new();
        if let Some((_, done)) = &invocation.done {
            record_spans.extend(done.spans.iter().cloned());
        }
        let mut extension_overhead = None;
        if let Some((_, report)) = &invocation.report {
            for record in &report.spans {
                if record.name == EXTENSION_OVERHEAD {
                    extension_overhead = Some(record.clone());
                } else {
                    record_spans.push(record.clone());
                }
            }
        }
        let mut out = children(&placement, &record_spans);
        let post_runtime = match extension_overhead {
            Some(mut measured) => {
                measured.name = POST_RUNTIME.to_owned();
                children(&placement, &[measured]).pop()
            }
            None => match (done_at, report_at) {
                (Some(done), Some(reported)) if reported > done => {
                    Some(span(POST_RUNTIME, &child_of(&placement), done, reported))
                }
                _ => None,
            },
        };
        out.extend(post_runtime);
        cover(&mut main, out.iter().map(interval));
        if let Some(root) = root.filter(|r| {
            r.parent_span_id == main.span_id
                && r.start_unix_nano > 0
                && r.end_unix_nano >= r.start_unix_nano
        }) {
            cover(&mut main, [(root.start_unix_nano, root.end_unix_nano)]);
        }
        out.insert(0, main);
        out
    }
}
