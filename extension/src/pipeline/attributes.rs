//! Attribute builders for the OTLP data the sidecar creates itself.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// A string attribute.
pub fn string(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// An integer attribute.
pub fn int(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// A floating-point attribute.
pub fn double(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

/// A boolean attribute.
pub fn boolean(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}
