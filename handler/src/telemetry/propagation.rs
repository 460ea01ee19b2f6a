//! Where an invocation's trace comes from: a W3C `traceparent` sent by the caller, else the
//! X-Ray trace Lambda started (`Lambda-Runtime-Trace-Id`, which `lambda_http` copies into the
//! request's `x-amzn-trace-id` header), else a new trace. Malformed headers start a new trace.
//!
//! Sampling policy for X-Ray parents: Lambda writes `Sampled=0` whenever X-Ray active tracing is
//! off, which is the common case for OTLP users. Honouring it would silently drop every trace, so
//! an X-Ray parent gives us its trace id and parent id (the same trace shows in X-Ray and in the
//! OTLP backend) but not its sampling decision; the SDK's sampler (`OTEL_TRACES_SAMPLER`) decides.
//! A W3C parent's sampled flag is honoured: it comes from an OpenTelemetry-instrumented caller.

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// Which header the parent context came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentSource {
    /// A valid W3C `traceparent`.
    W3c,
    /// A valid X-Ray trace header.
    Xray,
    /// None usable: the invocation starts a new trace.
    None,
}

impl ParentSource {
    /// The value recorded on the invocation span (`aws_rust_http_api.parent`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParentSource::W3c => "traceparent",
            ParentSource::Xray => "x-ray",
            ParentSource::None => "none",
        }
    }
}

/// The parent context for an invocation, and where it came from.
pub fn parent_context(headers: &HeaderMap) -> (Context, ParentSource) {
    let carrier = Headers(headers);
    let w3c = TraceContextPropagator::new().extract(&carrier);
    if w3c.span().span_context().is_valid() {
        return (w3c, ParentSource::W3c);
    }
    let xray = XrayPropagator::default().extract(&carrier);
    let span_context = xray.span().span_context().clone();
    if span_context.is_valid() {
        let sampled = SpanContext::new(
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags() | TraceFlags::SAMPLED,
            true,
            span_context.trace_state().clone(),
        );
        return (
            Context::new().with_remote_span_context(sampled),
            ParentSource::Xray,
        );
    }
    (Context::new(), ParentSource::None)
}

/// `http::HeaderMap` as an OpenTelemetry carrier.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("valid header value"));
        }
        map
    }

    fn ids(cx: &Context) -> (String, String, bool) {
        let span = cx.span();
        let sc = span.span_context();
        (
            sc.trace_id().to_string(),
            sc.span_id().to_string(),
            sc.is_sampled(),
        )
    }

    const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn xray_header_becomes_w3c_ids() {
        let (cx, source) = parent_context(&headers(&[("x-amzn-trace-id", XRAY)]));
        assert_eq!(source, ParentSource::Xray);
        let (trace_id, span_id, sampled) = ids(&cx);
        // X-Ray `1-<8 hex epoch>-<24 hex>` is the 32-hex W3C trace id without dashes.
        assert_eq!(trace_id, "5759e988bd862e3fe1be46a994272793");
        assert_eq!(span_id, "53995c3f42cd8ad8");
        assert!(sampled);
    }

    #[test]
    fn unsampled_xray_keeps_the_trace_but_not_the_drop_decision() {
        let header = XRAY.replace("Sampled=1", "Sampled=0");
        let (cx, source) = parent_context(&headers(&[("x-amzn-trace-id", &header)]));
        assert_eq!(source, ParentSource::Xray);
        let (trace_id, _, sampled) = ids(&cx);
        assert_eq!(trace_id, "5759e988bd862e3fe1be46a994272793");
        assert!(
            sampled,
            "Lambda's Sampled=0 must not silently drop OTLP traces"
        );
    }

    #[test]
    fn traceparent_wins_over_xray() {
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let (cx, source) = parent_context(&headers(&[
            ("traceparent", traceparent),
            ("x-amzn-trace-id", XRAY),
        ]));
        assert_eq!(source, ParentSource::W3c);
        let (trace_id, span_id, _) = ids(&cx);
        assert_eq!(trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(span_id, "b7ad6b7169203331");
    }

    #[test]
    fn unsampled_traceparent_is_honoured() {
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        let (cx, _) = parent_context(&headers(&[("traceparent", traceparent)]));
        assert!(!ids(&cx).2);
    }

    #[test]
    fn malformed_headers_start_a_new_trace() {
        for (name, value) in [
            ("traceparent", "00-not-a-trace-01"),
            (
                "traceparent",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            ),
            ("x-amzn-trace-id", "Root=1-zzzz;Parent=1;Sampled=1"),
            ("x-amzn-trace-id", "garbage"),
        ] {
            let (cx, source) = parent_context(&headers(&[(name, value)]));
            assert_eq!(source, ParentSource::None, "{name}: {value}");
            assert!(!cx.span().span_context().is_valid());
        }
    }

    #[test]
    fn malformed_traceparent_falls_back_to_xray() {
        let (_, source) = parent_context(&headers(&[
            ("traceparent", "garbage"),
            ("x-amzn-trace-id", XRAY),
        ]));
        assert_eq!(source, ParentSource::Xray);
    }
}
