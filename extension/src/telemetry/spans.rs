//! Lambda's own spans: where an invocation span goes in the trace, and how the `Invocation`,
//! `Initialization` and `Restore` spans (with Lambda's measured sub-phases as children) are built.
//!
//! # Placement (one tree with the function's spans)
//! 1. The function's root span for the invocation was received and sits in the X-Ray trace under the
//!    X-Ray `Parent` (the handler continues the trace Lambda started): the invocation span *is* that
//!    parent: same trace id, span id = `Parent`. The handler's spans hang under Lambda's span.
//! 2. The function's root span is in another trace (the caller sent a W3C `traceparent`, or there was
//!    no usable X-Ray header): the invocation span joins the function's trace as a sibling under the
//!    same parent, since the function's spans can no longer be re-parented.
//! 3. No root span (the function exports nothing, crashed or timed out): the X-Ray trace, with
//!    span id = `Parent` when there is one, so the handler's spans of a later export still fit.
//! 4. Nothing at all: a new trace.

use super::events::{InitStart, PhaseDone, PhaseReport, RecordSpan, Status, UnixNanos};
use super::otlp;
use super::parse::parse_time;
use super::xray::XrayContext;
use crate::lifecycle::completion::RootSpan;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status as SpanStatus};

/// Where a span goes: its trace, its own id and its parent (empty for a root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The trace it belongs to (16 bytes).
    pub trace_id: Vec<u8>,
    /// The span's own id (8 bytes).
    pub span_id: Vec<u8>,
    /// Parent span id, empty for a root.
    pub parent_span_id: Vec<u8>,
}

/// Applies the placement rules in the module docs; `fresh` is the span id to use when none is implied.
pub fn place(xray: Option<XrayContext>, root: Option<&RootSpan>, fresh: [u8; 8]) -> Placement {
    if let Some(root) = root {
        let under_xray_parent = xray.is_some_and(|x| {
            x.trace_id.as_slice() == root.trace_id
                && x.parent_id
                    .is_some_and(|p| p.as_slice() == root.parent_span_id)
        });
        if !under_xray_parent {
            return Placement {
                trace_id: root.trace_id.clone(),
                span_id: fresh.to_vec(),
                parent_span_id: root.parent_span_id.clone(),
            };
        }
    }
    match xray {
        Some(xray) => Placement {
            trace_id: xray.trace_id.to_vec(),
            span_id: xray.parent_id.unwrap_or(fresh).to_vec(),
            parent_span_id: Vec::new(),
        },
        None => Placement {
            trace_id: otlp::new_trace_id().to_vec(),
            span_id: fresh.to_vec(),
            parent_span_id: Vec::new(),
        },
    }
}

/// A span covering `[start, end]` at `placement`.
pub fn span(name: &str, placement: &Placement, start: UnixNanos, end: UnixNanos) -> Span {
    Span {
        trace_id: placement.trace_id.clone(),
        span_id: placement.span_id.clone(),
        parent_span_id: placement.parent_span_id.clone(),
        name: name.to_owned(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end.max(start),
        ..Default::default()
    }
}

/// Sets the span status from a Lambda status (unset for success, error otherwise) and records it.
pub fn set_status(span: &mut Span, status: Option<&Status>, error_type: Option<&str>) {
    let Some(status) = status else {
        return;
    };
    span.attributes
        .push(otlp::string("aws.lambda.status", status.as_str()));
    if *status != Status::Success {
        let reason = error_type.unwrap_or(status.as_str());
        span.attributes.push(otlp::string("error.type", reason));
        span.status = Some(SpanStatus {
            code: StatusCode::Error as i32,
            message: reason.to_owned(),
        });
    }
}

/// The placement of a new child of `parent`.
pub fn child_of(parent: &Placement) -> Placement {
    Placement {
        trace_id: parent.trace_id.clone(),
        span_id: otlp::new_span_id().to_vec(),
        parent_span_id: parent.span_id.clone(),
    }
}

/// Lambda's measured sub-phases (`responseLatency`, …) as children of `parent`.
pub fn children(parent: &Placement, record_spans: &[RecordSpan]) -> Vec<Span> {
    record_spans
        .iter()
        .filter_map(|record| {
            let start = parse_time(&record.start)?;
            let end = start + otlp::ms_to_nanos(record.duration_ms);
            Some(span(&record.name, &child_of(parent), start, end))
        })
        .collect()
}

/// Widens `parent` to cover every interval in `within` (Lambda's timestamps have millisecond
/// precision while its sub-phase durations have microseconds, so a child measured by Lambda may stick
/// out of the span derived from event times by up to a millisecond; a parent must contain its children).
pub fn cover(parent: &mut Span, within: impl IntoIterator<Item = (UnixNanos, UnixNanos)>) {
    for (start, end) in within {
        parent.start_time_unix_nano = parent.start_time_unix_nano.min(start);
        parent.end_time_unix_nano = parent.end_time_unix_nano.max(end);
    }
}

/// A span's `[start, end]`.
pub fn interval(span: &Span) -> (UnixNanos, UnixNanos) {
    (span.start_time_unix_nano, span.end_time_unix_nano)
}

/// The init or restore phase as far as it was reported.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// `platform.initStart` / `restoreStart` time.
    pub started: Option<UnixNanos>,
    /// Init type, phase and runtime version from the start event.
    pub attributes: Vec<KeyValue>,
    /// `…RuntimeDone`.
    pub done: Option<(UnixNanos, PhaseDone)>,
    /// `…Report`.
    pub report: Option<(UnixNanos, PhaseReport)>,
}

impl Phase {
    /// The phase as its start event (`platform.initStart` / `restoreStart`) describes it.
    pub fn started(time: UnixNanos, start: &InitStart) -> Phase {
        let mut attributes = Vec::new();
        for (key, value) in [
            ("aws.lambda.initialization_type", &start.initialization_type),
            ("aws.lambda.init_phase", &start.phase),
            ("aws.lambda.runtime_version", &start.runtime_version),
        ] {
            if let Some(value) = value {
                attributes.push(otlp::string(key, value.clone()));
            }
        }
        Phase {
            started: Some(time),
            attributes,
            done: None,
            report: None,
        }
    }

    /// The phase's duration as Lambda reported it, in ms.
    pub fn reported_ms(&self) -> Option<f64> {
        self.report.as_ref()?.1.metrics.as_ref()?.duration_ms
    }

    /// Whether anything of the phase was seen.
    pub fn seen(&self) -> bool {
        self.started.is_some() || self.done.is_some() || self.report.is_some()
    }

    /// The phase span (named `name`) and its sub-phases, at `placement`.
    pub fn spans(&self, name: &str, placement: &Placement, coldstart: bool) -> Vec<Span> {
        let reported = self.reported_ms().map(otlp::ms_to_nanos);
        let done_at = self.done.as_ref().map(|(t, _)| *t);
        let report_at = self.report.as_ref().map(|(t, _)| *t);
        let start = self
            .started
            .or_else(|| Some(done_at.or(report_at)?.saturating_sub(reported.unwrap_or(0))))
            .unwrap_or(0);
        let end = match reported {
            Some(duration) => start + duration,
            None => done_at.or(report_at).unwrap_or(start),
        };
        let mut phase = span(name, placement, start, end);
        phase.attributes = self.attributes.clone();
        if coldstart {
            phase.attributes.push(otlp::boolean("faas.coldstart", true));
        }
        if let Some(ms) = self.reported_ms() {
            phase
                .attributes
                .push(otlp::double("aws.lambda.duration_ms", ms));
        }
        let report = self.report.as_ref().map(|(_, r)| r);
        let done = self.done.as_ref().map(|(_, d)| d);
        let status = report
            .and_then(|r| r.status.as_ref())
            .or(done.and_then(|d| d.status.as_ref()));
        let error_type = report
            .and_then(|r| r.error_type.as_deref())
            .or(done.and_then(|d| d.error_type.as_deref()));
        set_status(&mut phase, status, error_type);
        let mut record_spans = done.map(|d| d.spans.clone()).unwrap_or_default();
        record_spans.extend(report.map(|r| r.spans.clone()).unwrap_or_default());
        let mut spans = children(placement, &record_spans);
        cover(&mut phase, spans.iter().map(interval));
        spans.insert(0, phase);
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xray(parent: Option<u8>) -> XrayContext {
        XrayContext {
            trace_id: [1; 16],
            parent_id: parent.map(|p| [p; 8]),
        }
    }

    fn root(trace: u8, parent: &[u8]) -> RootSpan {
        RootSpan {
            trace_id: vec![trace; 16],
            span_id: vec![9; 8],
            parent_span_id: parent.to_vec(),
            start_unix_nano: 1,
            end_unix_nano: 2,
        }
    }

    #[test]
    fn the_invocation_span_becomes_the_handlers_x_ray_parent() {
        let placed = place(Some(xray(Some(2))), Some(&root(1, &[2; 8])), [7; 8]);
        assert_eq!(
            placed,
            Placement {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                parent_span_id: vec![],
            }
        );
    }

    #[test]
    fn a_handler_in_another_trace_is_joined_as_a_sibling() {
        // W3C caller: the handler's trace and parent differ from X-Ray's.
        let placed = place(Some(xray(Some(2))), Some(&root(5, &[6; 8])), [7; 8]);
        assert_eq!(placed.trace_id, vec![5; 16]);
        assert_eq!(placed.span_id, vec![7; 8]);
        assert_eq!(placed.parent_span_id, vec![6; 8]);
        // X-Ray header without Parent: the handler started its own trace.
        let placed = place(Some(xray(None)), Some(&root(5, &[])), [7; 8]);
        assert_eq!(
            (placed.trace_id, placed.parent_span_id),
            (vec![5; 16], vec![])
        );
    }

    #[test]
    fn without_a_root_span_the_x_ray_trace_is_used_or_a_new_one() {
        let placed = place(Some(xray(Some(2))), None, [7; 8]);
        assert_eq!((placed.trace_id, placed.span_id), (vec![1; 16], vec![2; 8]));
        let placed = place(Some(xray(None)), None, [7; 8]);
        assert_eq!((placed.trace_id, placed.span_id), (vec![1; 16], vec![7; 8]));
        let placed = place(None, None, [7; 8]);
        assert_eq!(placed.trace_id.len(), 16);
        assert_ne!(placed.trace_id, vec![0; 16]);
        assert!(placed.parent_span_id.is_empty());
    }

    #[test]
    fn statuses_map_to_span_status() {
        let placement = place(None, None, [7; 8]);
        let mut ok = span("x", &placement, 1, 2);
        set_status(&mut ok, Some(&Status::Success), None);
        assert_eq!(ok.status, None);
        let mut timeout = span("x", &placement, 1, 2);
        set_status(
            &mut timeout,
            Some(&Status::Timeout),
            Some("Sandbox.Timedout"),
        );
        let status = timeout.status.expect("error status");
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(status.message, "Sandbox.Timedout");
    }
}
