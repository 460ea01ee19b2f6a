//! The hand-off: after the runtime has posted an invocation's response to Lambda, and before it
//! asks for the next event, export every span and metric point recorded so far.
//!
//! Lambda freezes the sandbox as soon as the runtime (and every extension) calls `next`; a span
//! still in the SDK's batch queue then waits for the next thaw, or is lost with the sandbox. This
//! layer wraps the runtime's whole invocation service (which ends by posting the response), so
//! the caller already has its answer when the flush starts: the hand-off costs billed time, not
//! latency. It runs on the runtime's own thread (see [`super::delivery`]); all of it is bounded by
//! `OTEL_SIDECAR_TIMEOUT_MS` (500 ms by default), and while the sidecar does not answer the
//! [`super::breaker`] skips it on most invocations.
//!
//! The hand-off tells the sidecar that the invocation is over (see [`super::delivery`]). Over plain OTLP
//! the sidecar learns it from the SERVER span; when the invocation's trace was not sampled (a caller's
//! `traceparent` with the sampled flag off), there is no such span, and the hand-off must signal the end
//! explicitly. The invocation layer, which makes the sampling decision, tells this layer through an
//! [`UnsampledNote`] the two share.

use super::Telemetry;
use super::delivery::Ending;
use lambda_http::lambda_runtime::LambdaInvocation;
use lambda_http::lambda_runtime::tower::BoxError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// Which invocation's trace was not sampled: written by the invocation layer, read by the hand-off
/// layer of the same runtime. The runtime handles one invocation at a time; the note is keyed by the
/// request id all the same, so that a stale note can never mark another invocation.
#[derive(Debug, Clone, Default)]
pub struct UnsampledNote(Arc<Mutex<Option<String>>>);

impl UnsampledNote {
    /// Notes that invocation `request_id` records no span: its hand-off must signal the end explicitly.
    pub fn note(&self, request_id: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(request_id.to_owned());
    }

    /// Whether invocation `request_id` was noted (and forgets the note).
    pub fn take(&self, request_id: &str) -> bool {
        let mut noted = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if noted.as_deref() == Some(request_id) {
            *noted = None;
            return true;
        }
        false
    }
}

/// Adds the hand-off to the runtime's invocation service.
#[derive(Clone)]
pub struct HandOffLayer {
    telemetry: Arc<Telemetry>,
    unsampled: UnsampledNote,
}

impl HandOffLayer {
    /// The hand-off of `telemetry`; `unsampled` is the note the invocation layer writes.
    pub fn new(telemetry: Arc<Telemetry>, unsampled: UnsampledNote) -> Self {
        HandOffLayer {
            telemetry,
            unsampled,
        }
    }
}

impl<S> Layer<S> for HandOffLayer {
    type Service = HandOff<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HandOff {
            inner,
            telemetry: self.telemetry.clone(),
            unsampled: self.unsampled.clone(),
        }
    }
}

/// The service created by [`HandOffLayer`].
pub struct HandOff<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
    unsampled: UnsampledNote,
}

impl<S> Service<LambdaInvocation> for HandOff<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let invoked = Instant::now();
        let deadline_ms = invocation.context.deadline;
        let request_id = invocation.context.request_id.clone();
        let future = self.inner.call(invocation);
        let telemetry = self.telemetry.clone();
        let unsampled = self.unsampled.clone();
        Box::pin(async move {
            let result = future.await;
            let started = Instant::now();
            let ending = Ending {
                id: &request_id,
                sampled: !unsampled.take(&request_id),
                started: invoked,
                deadline_ms,
            };
            let outcome = telemetry.hand_off(Some(ending)).await;
            tracing::debug!(
                handoff_us = started.elapsed().as_micros() as u64,
                ?outcome,
                "telemetry handed off"
            );
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_taken_once_and_only_for_its_invocation() {
        let note = UnsampledNote::default();
        let layer_copy = note.clone();
        note.note("a");
        assert!(!layer_copy.take("b"), "another invocation is not unsampled");
        assert!(layer_copy.take("a"));
        assert!(!layer_copy.take("a"), "taken once");
        note.note("a");
        note.note("c");
        assert!(!note.take("a"), "a later note replaces a stale one");
        assert!(note.take("c"));
    }
}
