//! `otel-config.dev.yaml`, the sidecar config `./scripts/dev` uses, read by the sidecar's own loader:
//! valid, and the shipped file's settings except a flush after every invocation and a Telemetry API
//! listener on loopback only.

use extension::config::{Config, FlushMode, load_from_str};

#[test]
fn the_local_loop_config_is_the_defaults_with_a_flush_after_every_invocation_and_loopback_only() {
    let text = include_str!("../otel-config.dev.yaml");
    let loaded = load_from_str(text, "devserver/otel-config.dev.yaml", &|_| None);
    assert!(loaded.error.is_none(), "{:?}", loaded.error);
    assert_eq!(loaded.config.flush.mode, FlushMode::End);
    let mut expected = Config::default();
    expected.flush.mode = FlushMode::End;
    if let Some(telemetry) = expected.telemetry_api.as_mut() {
        telemetry.faas_trigger = "http";
        telemetry.listener = "127.0.0.1:4319".parse().unwrap();
    }
    assert_eq!(loaded.config, expected);
}
