//! The hand-off: after the runtime has posted an invocation's response to Lambda, and before it
//! asks for the next event, export every span and metric point recorded so far.
//!
//! Lambda freezes the sandbox as soon as the runtime (and every extension) calls `next`; a span
//! still in the SDK's batch queue then waits for the next thaw, or is lost with the sandbox. This
//! layer wraps the runtime's whole invocation service (which ends by posting the response), so
//! the caller already has its answer when the flush starts: the hand-off costs billed time, not
//! latency. It runs on the runtime's own thread (see [`super::delivery`]); each request is bounded by
//! `OTEL_SIDECAR_TIMEOUT_MS` (500 ms by default), and while the sidecar does not answer the
//! [`super::breaker`] skips it on most invocations.
//!
//! The sidecar knows the invocation is complete when its SERVER span arrives. When the invocation's
//! trace was not sampled (a caller's `traceparent` with the sampled flag off), there is no such span:
//! the hand-off then ends with an explicit signal, `POST /otel-sidecar/v1/invocations/{id}/finished`,
//! so the sidecar does not wait for a span that will never come.

use super::Telemetry;
use lambda_http::lambda_runtime::LambdaInvocation;
use lambda_http::lambda_runtime::tower::BoxError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// The invocation whose trace was not sampled, noted by the invocation layer for the hand-off (the
/// runtime handles one invocation at a time).
static UNSAMPLED: Mutex<Option<String>> = Mutex::new(None);

/// Notes that invocation `request_id` records no span: its hand-off must signal the end explicitly.
pub fn note_unsampled(request_id: &str) {
    *UNSAMPLED.lock().unwrap_or_else(PoisonError::into_inner) = Some(request_id.to_owned());
}

fn take_unsampled(request_id: &str) -> bool {
    let mut noted = UNSAMPLED.lock().unwrap_or_else(PoisonError::into_inner);
    if noted.as_deref() == Some(request_id) {
        *noted = None;
        return true;
    }
    false
}

/// Adds the hand-off to the runtime's invocation service.
#[derive(Clone)]
pub struct HandOffLayer {
    telemetry: Arc<Telemetry>,
}

impl HandOffLayer {
    /// The layer, handing off through `telemetry` after each invocation.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        HandOffLayer { telemetry }
    }
}

impl<S> Layer<S> for HandOffLayer {
    type Service = HandOff<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HandOff {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service created by [`HandOffLayer`].
pub struct HandOff<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
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
        let request_id = invocation.context.request_id.clone();
        let future = self.inner.call(invocation);
        let telemetry = self.telemetry.clone();
        Box::pin(async move {
            let result = future.await;
            let started = Instant::now();
            let unsampled = take_unsampled(&request_id).then_some(request_id.as_str());
            let outcome = telemetry.hand_off(unsampled).await;
            tracing::debug!(
                handoff_us = started.elapsed().as_micros() as u64,
                ?outcome,
                "telemetry handed off"
            );
            result
        })
    }
}
