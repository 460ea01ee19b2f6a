//! A CLIENT span and a duration measurement for every AWS SDK call, as an SDK interceptor, so
//! any client built with it (S3 today, DynamoDB tomorrow) is traced the same way.
//!
//! Span attributes: `rpc.system=aws-api`, `rpc.service` (e.g. `S3`), `rpc.method` (the operation,
//! e.g. `ListBuckets`), `aws.request_id`, `http.response.status_code`, and error status when the
//! call fails. These are the names AWS SDK instrumentations emit in other languages, which
//! backends (X-Ray, Honeycomb, Datadog, Grafana) recognise.

use super::metrics::Metrics;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use opentelemetry::KeyValue;
use std::time::Instant;
use tracing::field::Empty;

/// The interceptor; add it to a client with `.interceptor(AwsSdkTelemetry::new(metrics))`.
#[derive(Clone, Debug)]
pub struct AwsSdkTelemetry {
    metrics: MetricsHandle,
}

#[derive(Clone)]
struct MetricsHandle(Metrics);

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl AwsSdkTelemetry {
    /// The interceptor, recording each SDK call's duration in `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        AwsSdkTelemetry {
            metrics: MetricsHandle(metrics),
        }
    }
}

/// The span of the call in flight, kept in the call's config bag between the two hooks.
#[derive(Clone, Debug)]
struct CallSpan {
    span: tracing::Span,
    started: Instant,
    service: String,
    operation: String,
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsSdkTelemetry {
    fn name(&self) -> &'static str {
        "AwsSdkTelemetry"
    }

    // Not `read_before_execution`: client interceptors run that hook before the operation's
    // configuration (which holds its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let span = tracing::info_span!(
            "aws_sdk_call",
            otel.name = %format!("{service}.{operation}"),
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = "aws-api",
            rpc.service = %service,
            rpc.method = %operation,
            aws.request_id = Empty,
            http.response.status_code = Empty,
            error.type = Empty,
        );
        cfg.interceptor_state().store_put(CallSpan {
            span,
            started: Instant::now(),
            service,
            operation,
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<CallSpan>().cloned() else {
            return Ok(());
        };
        let mut outcome = "ok".to_string();
        if let Some(response) = context.response() {
            let status = response.status().as_u16();
            call.span
                .record("http.response.status_code", i64::from(status));
            if let Some(id) = response
                .headers()
                .get("x-amz-request-id")
                .or_else(|| response.headers().get("x-amzn-requestid"))
            {
                call.span.record("aws.request_id", id);
            }
            if status >= 400 {
                outcome = status.to_string();
            }
        }
        if let Some(Err(error)) = context.output_or_error()
            && outcome == "ok"
        {
            outcome = if error.is_timeout_error() {
                "timeout".into()
            } else {
                "transport".into()
            };
        }
        if outcome != "ok" {
            call.span.record("otel.status_code", "error");
            call.span.record("error.type", outcome.as_str());
        }
        // Close the span now (the bag may outlive this hook).
        cfg.interceptor_state().unset::<CallSpan>();
        let mut attributes = vec![
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", call.service),
            KeyValue::new("rpc.method", call.operation),
        ];
        if outcome != "ok" {
            attributes.push(KeyValue::new("error.type", outcome));
        }
        self.metrics
            .0
            .aws_call_duration
            .record(call.started.elapsed().as_secs_f64(), &attributes);
        Ok(())
    }
}
