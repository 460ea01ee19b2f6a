//! The SERVER span of each invocation, as a tower layer around the HTTP service.
//!
//! The span follows the OpenTelemetry HTTP and FaaS conventions (`faas.trigger=http`,
//! `faas.invocation_id`, `faas.coldstart`, `http.request.method`, `http.route`, `url.path`,
//! `user_agent.original`, `http.response.status_code`; error status on 5xx), continues the
//! caller's trace (see [`super::propagation`]) and ends when the response is ready. The layer
//! also records `http.server.request.duration`. (`faas.coldstarts` and the other `faas.*` metrics come
//! from the sidecar, which learns them from Lambda's Telemetry API: counting here too would double them.)

use super::metrics::Metrics;
use super::propagation::parent_context;
use crate::routes::{Route, request_path};
use http::header::USER_AGENT;
use lambda_http::{Body, Request, RequestExt, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// True until the first invocation of this process starts.
static COLD: AtomicBool = AtomicBool::new(true);

/// Wraps a service in [`InvocationSpan`].
#[derive(Clone)]
pub struct InvocationSpanLayer {
    metrics: Metrics,
}

impl InvocationSpanLayer {
    /// The layer, recording each invocation's metrics in `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        InvocationSpanLayer { metrics }
    }
}

impl<S> Layer<S> for InvocationSpanLayer {
    type Service = InvocationSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationSpan {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service created by [`InvocationSpanLayer`].
#[derive(Clone)]
pub struct InvocationSpan<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> Service<Request> for InvocationSpan<S>
where
    S: Service<Request, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let coldstart = COLD.swap(false, Ordering::Relaxed);
        let method = request.method().as_str().to_string();
        let route = Route::for_path(request_path(&request)).map(Route::template);
        let span = invocation_span(&request, &method, route, coldstart);
        let metrics = self.metrics.clone();
        let future = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let result = future.await;
            if let Ok(response) = &result {
                let status = response.status().as_u16();
                span.record("http.response.status_code", i64::from(status));
                if status >= 500 {
                    span.record("otel.status_code", "error");
                    span.record("error.type", status.to_string());
                }
                let mut attributes = vec![
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("http.response.status_code", i64::from(status)),
                ];
                if let Some(route) = route {
                    attributes.push(KeyValue::new("http.route", route));
                }
                metrics
                    .request_duration
                    .record(started.elapsed().as_secs_f64(), &attributes);
            }
            drop(span);
            result
        })
    }
}

/// Creates the span, parented on the caller's trace, with the request's attributes.
fn invocation_span(
    request: &Request,
    method: &str,
    route: Option<&'static str>,
    coldstart: bool,
) -> tracing::Span {
    let invocation_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.as_str())
        .unwrap_or_default();
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    // API Gateway and function URLs are HTTPS only; an ALB says what the client used.
    let scheme = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("https");
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "invocation",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        faas.trigger = "http",
        faas.invocation_id = %invocation_id,
        faas.coldstart = coldstart,
        http.request.method = %method,
        http.route = Empty,
        url.path = %request_path(request),
        url.scheme = %scheme,
        user_agent.original = %user_agent,
        http.response.status_code = Empty,
        error.type = Empty,
        enduser.id = Empty,
        aws.caller.arn = Empty,
        trace_parent.source = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    if let Some(route) = route {
        span.record("http.route", route);
    }
    let (parent, source) = parent_context(request.headers());
    span.record("trace_parent.source", source.as_str());
    // Fails only when telemetry is disabled (no OpenTelemetry layer): nothing to parent then.
    if span.set_parent(parent).is_ok() {
        // In every log line of the invocation (JSON `spans` list), so the sidecar links logs to the span.
        let context = span.context();
        let ids = context.span().span_context().clone();
        span.record("trace_id", ids.trace_id().to_string());
        span.record("span_id", ids.span_id().to_string());
        if !ids.is_sampled() {
            // No SERVER span will reach the sidecar: the hand-off signals the end instead.
            super::handoff::note_unsampled(invocation_id);
        }
    }
    span
}
