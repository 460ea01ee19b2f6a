//! The single way received data gets into the buffer: the receivers' OTLP data and what the Telemetry
//! API side makes of Lambda's events. Data is buffered first, then the invocations it shows finished
//! are marked (see [`crate::lifecycle::completion`]), so a flush woken by the mark finds the data
//! buffered. Only the function's data can carry its root span; Lambda's reports end invocations
//! through [`Ingest::accept_from_lambda`], which never counts as the function's own signal.

use crate::lifecycle::completion::{Completions, RootSpan};
use crate::pipeline::{Entry, Payload, SharedBuffer};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sidecar_contract::{INVOCATION_ID_ATTRIBUTE, InvocationId};
use std::sync::Arc;

/// Cheap to clone; shared by every receiver and the Telemetry API listener.
#[derive(Debug, Clone)]
pub struct Ingest {
    buffer: SharedBuffer,
    completions: Arc<Completions>,
}

impl Ingest {
    /// A handle feeding `buffer` and `completions`.
    pub fn new(buffer: SharedBuffer, completions: Arc<Completions>) -> Self {
        Self {
            buffer,
            completions,
        }
    }

    /// Buffers the function's `payload` (evicting the oldest data if the buffer is full), then marks the
    /// invocations whose root span it contains as finished. Never blocks on exporting.
    pub fn accept(&self, payload: Payload) {
        self.accept_encoded(&payload, None);
    }

    /// Like [`Ingest::accept`], reusing `raw`, the protobuf body `payload` was decoded from, instead of
    /// encoding it again.
    pub fn accept_encoded(&self, payload: &Payload, raw: Option<bytes::Bytes>) {
        if payload.is_empty() {
            return;
        }
        let finished = finished_invocations(payload);
        let entry = match raw {
            Some(raw) => Entry::encoded(payload.signal(), raw, payload.item_count()),
            None => Entry::new(payload),
        };
        self.buffer.lock().push(entry);
        for (id, root) in finished {
            self.completions.mark(id, root);
        }
    }
}

impl Ingest {
    /// Buffers `payloads` made from Lambda's Telemetry API events (empty ones are skipped), then marks
    /// the invocations Lambda reported over (`platform.runtimeDone` or `platform.report`, `ended`) as
    /// finished. The spans in them are Lambda's: they are not looked at for the function's root span.
    pub fn accept_from_lambda(&self, payloads: &[Payload], ended: Vec<String>) {
        {
            let mut buffer = self.buffer.lock();
            for payload in payloads.iter().filter(|p| !p.is_empty()) {
                buffer.push(Entry::new(payload));
            }
        }
        for id in ended {
            self.completions.mark_runtime_done(id);
        }
    }

    /// What is known about finished invocations, to read (the Telemetry API side places Lambda's spans
    /// around the function's root span).
    pub fn completions(&self) -> &Completions {
        &self.completions
    }
}

impl Ingest {
    /// The function's explicit end-of-invocation signal (see [`crate::lifecycle::completion`]); call it
    /// after buffering whatever came with it.
    pub fn finished(&self, id: InvocationId) {
        self.completions.mark_signalled(id.into_string());
    }
}

/// Invocation ids of root spans (kind SERVER, or no parent) carrying [`INVOCATION_ID_ATTRIBUTE`], with
/// the span's ids.
fn finished_invocations(payload: &Payload) -> Vec<(String, RootSpan)> {
    let Payload::Traces(resource_spans) = payload else {
        return Vec::new();
    };
    resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|span| span.kind == SpanKind::Server as i32 || span.parent_span_id.is_empty())
        .filter_map(|span| {
            let id = span
                .attributes
                .iter()
                .find(|kv| kv.key == INVOCATION_ID_ATTRIBUTE)
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(id) if !id.is_empty() => Some(id.clone()),
                    _ => None,
                })?;
            let root = RootSpan {
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                parent_span_id: span.parent_span_id.clone(),
                start_unix_nano: span.start_time_unix_nano,
                end_unix_nano: span.end_time_unix_nano,
            };
            Some((id, root))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn span(kind: SpanKind, parent: &[u8], id: Option<&str>) -> Span {
        Span {
            kind: kind as i32,
            parent_span_id: parent.to_vec(),
            attributes: id
                .map(|id| KeyValue {
                    key: INVOCATION_ID_ATTRIBUTE.into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(id.into())),
                    }),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_root_or_server_spans_with_the_attribute_signal_completion() {
        let payload = Payload::Traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(SpanKind::Server, b"remote-parent", Some("a")),
                    span(SpanKind::Internal, b"", Some("b")),
                    span(SpanKind::Client, b"parent", Some("not-root")),
                    span(SpanKind::Server, b"", None),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let buffer = SharedBuffer::new(1 << 20);
        let completions = Arc::new(Completions::default());
        Ingest::new(buffer.clone(), completions.clone()).accept(payload);
        assert!(completions.is_finished("a") && completions.is_finished("b"));
        assert_eq!(
            completions.root_span("a").map(|r| r.parent_span_id),
            Some(b"remote-parent".to_vec()),
            "the root span's ids are kept for the Telemetry API side"
        );
        assert!(!completions.is_finished("not-root"));
        assert_eq!(buffer.lock().len(), 1);
    }

    #[test]
    fn lambdas_spans_are_buffered_but_never_taken_for_the_functions_root_span() {
        let invocation_span = Payload::Traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(SpanKind::Server, b"", Some("a"))],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let buffer = SharedBuffer::new(1 << 20);
        let completions = Arc::new(Completions::default());
        let ingest = Ingest::new(buffer.clone(), completions.clone());
        ingest.accept_from_lambda(
            &[invocation_span, Payload::Logs(Vec::new())],
            vec!["b".into()],
        );
        assert_eq!(buffer.lock().len(), 1, "the empty payload is skipped");
        assert!(
            !completions.is_finished("a"),
            "a Lambda span is not the function's signal"
        );
        assert!(completions.is_finished("b") && !completions.signalled_by_function("b"));
        assert!(ingest.completions().root_span("b").is_none());
    }
}
