//! The OpenTelemetry resource: who is reporting. Lambda's attributes come from
//! `opentelemetry-aws`'s detector (`cloud.provider`, `cloud.region`, `faas.name`, `faas.version`,
//! `faas.instance`, `faas.max_memory`); `OTEL_RESOURCE_ATTRIBUTES` goes on top, and
//! `service.name` is `OTEL_SERVICE_NAME`, else the function name.

use opentelemetry::{Key, KeyValue};
use opentelemetry_aws::detector::LambdaResourceDetector;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_semantic_conventions::resource::SERVICE_NAME;

/// Service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one and
/// the process is not in Lambda.
const FALLBACK_SERVICE_NAME: &str = "aws-rust-http-api";

/// Detects the resource. `service_name` is `OTEL_SERVICE_NAME` (wins), `function_name` the
/// fallback when `OTEL_RESOURCE_ATTRIBUTES` names no service either.
pub fn detect(service_name: Option<&str>, function_name: Option<&str>) -> Resource {
    let detected = Resource::builder_empty()
        .with_detector(Box::new(LambdaResourceDetector))
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_detector(Box::new(EnvResourceDetector::new()))
        .build();
    let from_attributes = detected
        .get(&Key::from_static_str(SERVICE_NAME))
        .map(|v| v.to_string());
    let name = service_name
        .map(str::to_string)
        .or(from_attributes)
        .or_else(|| function_name.map(str::to_string))
        .unwrap_or_else(|| FALLBACK_SERVICE_NAME.to_string());
    Resource::builder_empty()
        .with_attributes(
            detected
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_service_name(name)
        .build()
}
