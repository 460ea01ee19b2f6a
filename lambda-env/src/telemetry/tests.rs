//! Unit tests of subscriptions and batching of the Telemetry API.

use super::*;

fn request(buffering: Value) -> Vec<u8> {
    json!({
        "schemaVersion": "2022-12-13",
        "types": ["platform", "function"],
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4319/events"},
        "buffering": buffering,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn a_valid_subscription_is_delivered_to_loopback_with_its_path() {
    let s = validate(&request(
        json!({"timeoutMs": 25, "maxItems": 1000, "maxBytes": 262144}),
    ))
    .unwrap();
    assert_eq!(s.url, "http://127.0.0.1:4319/events");
    assert_eq!(s.timeout, Duration::from_millis(25));
    assert_eq!((s.max_items, s.max_bytes), (1000, 262_144));
    let defaults = validate(&request(Value::Null)).unwrap();
    assert_eq!(defaults.timeout, Duration::from_millis(1000));
    assert_eq!(defaults.max_items, 10_000);
}

#[test]
fn buffering_outside_lambdas_limits_is_refused() {
    for bad in [
        json!({"timeoutMs": 24}),
        json!({"timeoutMs": 30001}),
        json!({"maxItems": 999}),
        json!({"maxItems": 10001}),
        json!({"maxBytes": 262143}),
        json!({"maxBytes": 1048577}),
        json!({"timeoutMs": "100"}),
    ] {
        assert!(
            matches!(
                validate(&request(bad.clone())),
                Err(SubscribeError::Validation(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn bad_destinations_types_and_versions_are_refused() {
    let base = json!({
        "schemaVersion": "2022-12-13",
        "types": ["platform"],
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4319"},
    });
    assert!(validate(base.to_string().as_bytes()).is_ok());
    for (pointer, value) in [
        ("/schemaVersion", json!("2021-01-01")),
        ("/types", json!([])),
        ("/types", json!(["platform", "logs"])),
        ("/destination/URI", json!("http://example.com:4319")),
        ("/destination/URI", json!("http://sandbox.localdomain")),
        ("/destination/protocol", json!("TCP")),
    ] {
        let mut bad = base.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        assert!(validate(bad.to_string().as_bytes()).is_err(), "{bad}");
    }
    assert!(validate(b"not json").is_err());
}
