//! The shape of a cold start's trace: the first invocation's span and the init (or restore) phase become
//! siblings under a `ColdStart` span covering both, which takes the invocation span's place in the trace
//! (a child must not precede its parent, and one root keeps the request's view whole in every backend).

use super::invocation::Invocation;
use super::otlp;
use super::spans::{Phase, Placement, child_of, cover, interval, span};
use opentelemetry_proto::tonic::trace::v1::Span;
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;

/// The name of the span covering a cold start's init (or restore) and its first invocation.
pub const COLD_START: &str = "ColdStart";

/// Puts the first invocation's span (`first`) and the init/restore `phases` under a new `ColdStart`
/// span (with `faas.trigger` = `trigger`) that takes `first`'s place in the trace; returns the new spans,
/// the `ColdStart` span first.
pub fn cover_cold_start(
    first: &mut Span,
    invocation: &Invocation,
    phases: &[(&str, &Phase)],
    trigger: &'static str,
) -> Vec<Span> {
    let covering = Placement {
        trace_id: first.trace_id.clone(),
        span_id: otlp::new_span_id().to_vec(),
        parent_span_id: first.parent_span_id.clone(),
    };
    first.parent_span_id.clone_from(&covering.span_id);
    let mut root = span(
        COLD_START,
        &covering,
        first.start_time_unix_nano,
        first.end_time_unix_nano,
    );
    let mut out = Vec::new();
    for (name, phase) in phases {
        let phase_spans = phase.spans(name, &child_of(&covering), true);
        if let Some(top) = phase_spans.first() {
            cover(&mut root, [interval(top)]);
        }
        out.extend(phase_spans);
    }
    root.attributes = vec![
        otlp::string(INVOCATION_ID_ATTRIBUTE, invocation.request_id.clone()),
        otlp::string("faas.trigger", trigger),
        otlp::boolean("faas.coldstart", true),
    ];
    out.insert(0, root);
    out
}
