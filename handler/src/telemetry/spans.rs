//! The span processor: ended spans wait in a bounded queue for the next hand-off, which takes them all
//! at once. No background thread and no timer: the hand-off (see [`super::delivery`]) exports them
//! itself, on the runtime's own thread, before the runtime asks Lambda for the next event.

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Most spans kept between two hand-offs (the SDK batch processor's default queue size); more are
/// dropped and counted.
pub const MAX_QUEUED_SPANS: usize = 2048;

#[derive(Debug, Default)]
struct Queue {
    spans: Vec<SpanData>,
    overflowed: usize,
}

/// The queue, shared by the processor (which fills it) and the hand-off (which empties it).
#[derive(Debug, Clone, Default)]
pub struct SpanQueue {
    inner: Arc<Mutex<Queue>>,
}

impl SpanQueue {
    /// Takes every queued span, and the number dropped because the queue was full since the last take.
    pub fn take(&self) -> (Vec<SpanData>, usize) {
        let mut queue = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            std::mem::take(&mut queue.spans),
            std::mem::take(&mut queue.overflowed),
        )
    }

    fn push(&self, span: SpanData) {
        let mut queue = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.spans.len() < MAX_QUEUED_SPANS {
            queue.spans.push(span);
        } else {
            queue.overflowed += 1;
        }
    }
}

/// The [`SpanProcessor`] feeding a [`SpanQueue`].
#[derive(Debug)]
pub struct QueueingProcessor {
    queue: SpanQueue,
}

impl QueueingProcessor {
    /// A processor that queues every ended span in `queue`.
    pub fn new(queue: SpanQueue) -> Self {
        QueueingProcessor { queue }
    }
}

impl SpanProcessor for QueueingProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.queue.push(span);
        }
    }

    /// Nothing to do: the hand-off exports the queue.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    #[test]
    fn ended_spans_wait_for_the_take_and_overflow_is_counted() {
        let queue = SpanQueue::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(QueueingProcessor::new(queue.clone()))
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..MAX_QUEUED_SPANS + 3 {
            tracer.in_span("work", |_| {});
        }
        let (spans, overflowed) = queue.take();
        assert_eq!(spans.len(), MAX_QUEUED_SPANS);
        assert_eq!(overflowed, 3);
        assert_eq!(spans[0].name, "work");
        assert_eq!(queue.take(), (Vec::new(), 0), "a take empties the queue");
    }
}
