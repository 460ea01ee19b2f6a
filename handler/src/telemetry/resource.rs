//! The OpenTelemetry resource: who is reporting. Lambda's attributes come from
//! `opentelemetry-aws`'s detector (`cloud.provider`, `cloud.region`, `faas.name`, `faas.version`,
//! `faas.instance`, `faas.max_memory`); `OTEL_RESOURCE_ATTRIBUTES` goes on top, and
//! `service.name` is `OTEL_SERVICE_NAME`, else the function name.

use opentelemetry::KeyValue;
use opentelemetry_aws::detector::LambdaResourceDetector;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_semantic_conventions::resource::SERVICE_NAME;

/// Detects the resource; `service_name` is the already-resolved service name.
pub fn detect(service_name: &str) -> Resource {
    let detected = Resource::builder_empty()
        .with_detector(Box::new(LambdaResourceDetector))
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_detector(Box::new(EnvResourceDetector::new()))
        .build();
    // OTEL_RESOURCE_ATTRIBUTES may name the service; OTEL_SERVICE_NAME (already folded into
    // `service_name`) wins over it, and the function name is the last resort.
    let from_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty());
    let has_service_name = detected
        .get(&opentelemetry::Key::from_static_str(SERVICE_NAME))
        .is_some();
    let builder = Resource::builder_empty().with_attributes(
        detected
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    if from_env || !has_service_name {
        builder.with_service_name(service_name.to_string()).build()
    } else {
        builder.build()
    }
}
