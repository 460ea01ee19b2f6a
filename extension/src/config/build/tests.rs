//! Unit tests of config loading: good files, unknown keys, bad types, substitution, `OTEL_*` overrides.

use super::*;
use crate::config::FlushMode;
use std::collections::HashMap;

fn with_env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// Loads `text` as the config file with only the variables `env` set (shared with `exporter_tests`).
pub(in crate::config) fn load(text: &str, env: &[(&str, &str)]) -> Loaded {
    load_from_str(text, "/opt/otel-config.yaml", &with_env(env))
}

pub(in crate::config) const FULL: &str = r#"
receivers:
  otlp_http: { endpoint: "127.0.0.1:5318" }
  otlp_grpc: { enabled: false }
exporter:
  endpoint: https://api.honeycomb.io/
  headers:
    x-honeycomb-team: ${env:HONEYCOMB_API_KEY}
  compression: none
  timeout_ms: 2500
  retry: { max_attempts: 3, initial_backoff_ms: 50, max_backoff_ms: 1000 }
flush:
  mode: periodic
  interval_ms: 10000
  completion_timeout_ms: 500
  max_delay_ms: 150
limits: { max_buffer_bytes: 1048576, max_request_bytes: 65536 }
resource:
  attributes: { deployment.environment.name: prod }
"#;

#[test]
fn a_full_file_is_read_with_substitution() {
    let loaded = load(FULL, &[("HONEYCOMB_API_KEY", "hc-key")]);
    assert_eq!(loaded.error, None);
    let config = loaded.config;
    assert_eq!(
        config.http_receiver,
        Some("127.0.0.1:5318".parse().unwrap())
    );
    assert_eq!(config.grpc_receiver, None);
    let exporter = config.exporter.expect("exporter configured");
    assert_eq!(exporter.traces.url, "https://api.honeycomb.io/v1/traces");
    assert_eq!(exporter.logs.url, "https://api.honeycomb.io/v1/logs");
    for signal in [&exporter.traces, &exporter.metrics, &exporter.logs] {
        assert_eq!(
            signal.headers.0,
            vec![("x-honeycomb-team".to_owned(), "hc-key".to_owned())]
        );
        assert!(!signal.gzip);
        assert_eq!(signal.timeout, Duration::from_millis(2500));
    }
    assert_eq!(exporter.retry.max_attempts, 3);
    assert!(!config.console, "console defaults to off when exporting");
    assert_eq!(config.flush.mode, FlushMode::Periodic);
    assert_eq!(config.flush.max_delay, Duration::from_millis(150));
    assert_eq!(config.limits.max_request_bytes, 65536);
    assert_eq!(
        config.resource_attributes,
        vec![("deployment.environment.name".to_owned(), "prod".to_owned())]
    );
}

#[test]
fn an_empty_file_gives_the_zero_config_defaults() {
    let loaded = load("", &[]);
    assert_eq!(loaded.error, None);
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.config.console && loaded.config.exporter.is_none());
}

#[test]
fn an_unknown_key_is_named_and_the_defaults_are_used() {
    let loaded = load("exporter:\n  endpont: https://x\n", &[]);
    let error = loaded.error.expect("rejected").to_string();
    assert!(
        error.contains("endpont") && error.contains("exporter"),
        "{error}"
    );
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn a_bad_type_is_named() {
    let error = load("flush:\n  interval_ms: soon\n", &[])
        .error
        .expect("rejected")
        .to_string();
    assert!(
        error.contains("flush.interval_ms") || error.contains("interval_ms"),
        "{error}"
    );
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("flush: { mode: sometimes }", "flush.mode"),
        (
            "receivers: { otlp_http: { endpoint: 'localhost:4318' } }",
            "receivers.otlp_http.endpoint",
        ),
        ("exporter: { endpoint: 'ftp://x' }", "exporter.endpoint"),
        (
            "exporter: { endpoint: 'http://127.0.0.1:4318' }",
            "exporter.endpoint",
        ),
        (
            "exporter: { endpoint: 'https://x', compression: zstd }",
            "exporter.compression",
        ),
        (
            "exporter: { endpoint: 'https://x', protocol: grpc }",
            "exporter.protocol",
        ),
        (
            "exporter: { endpoint: 'https://x', headers: { 'bad name': v } }",
            "exporter.headers.bad name",
        ),
        (
            "exporter: { endpoint: 'https://x', retry: { max_attempts: 0 } }",
            "exporter.retry.max_attempts",
        ),
        (
            "limits: { max_buffer_bytes: 2048, max_request_bytes: 4096 }",
            "limits.max_request_bytes",
        ),
        (
            "flush: { shutdown_margin_ms: 2500 }",
            "flush.shutdown_margin_ms",
        ),
        (
            "exporter: { endpoint: 'https://x', headers: { k: '${env:UNSET}' } }",
            "exporter.headers.k",
        ),
    ];
    for (text, key) in cases {
        let error = load(text, &[])
            .error
            .unwrap_or_else(|| panic!("{text} accepted"))
            .to_string();
        assert!(error.contains(key), "{text}: {error}");
    }
}

#[test]
fn header_values_never_appear_in_errors_or_debug() {
    let loaded = load(
        "exporter: { endpoint: 'https://x', headers: { k: \"sec\\nret\" } }",
        &[],
    );
    let error = loaded.error.expect("rejected").to_string();
    assert!(!error.contains("sec"), "{error}");
    let ok = load(FULL, &[("HONEYCOMB_API_KEY", "hc-key")]);
    assert!(!format!("{:?}", ok.config).contains("hc-key"));
}

#[test]
fn standard_variables_override_the_file() {
    let env = [
        ("HONEYCOMB_API_KEY", "k"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "X-Honeycomb-Team=from-env,x-extra=a%3Db",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "750"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_SERVICE_NAME", "svc"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=core,deployment.environment.name=dev",
        ),
    ];
    let loaded = load(FULL, &env);
    assert_eq!(loaded.error, None);
    let exporter = loaded.config.exporter.unwrap();
    assert_eq!(exporter.traces.url, "http://traces:9999/custom");
    assert_eq!(exporter.metrics.url, "http://collector:4318/v1/metrics");
    for other in [&exporter.metrics, &exporter.logs] {
        assert_eq!(other.headers, exporter.traces.headers);
        assert_eq!(
            (other.gzip, other.timeout),
            (exporter.traces.gzip, exporter.traces.timeout)
        );
    }
    assert_eq!(
        exporter.traces.headers.0,
        vec![
            ("x-honeycomb-team".to_owned(), "from-env".to_owned()),
            ("x-extra".to_owned(), "a=b".to_owned())
        ]
    );
    assert_eq!(exporter.traces.timeout, Duration::from_millis(750));
    assert!(exporter.traces.gzip);
    // File attributes come last, so they win over OTEL_RESOURCE_ATTRIBUTES.
    assert_eq!(
        loaded.config.resource_attributes,
        vec![
            ("service.name".to_owned(), "svc".to_owned()),
            ("team".to_owned(), "core".to_owned()),
            ("deployment.environment.name".to_owned(), "dev".to_owned()),
            ("deployment.environment.name".to_owned(), "prod".to_owned()),
        ]
    );
}

#[test]
fn a_missing_file_means_defaults() {
    let env = with_env(&[("OTEL_SIDECAR_CONFIG", "/nonexistent/otel-config.yaml")]);
    let loaded = super::load(&env);
    assert_eq!(loaded.error, None);
    assert_eq!(loaded.path, None);
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn a_valid_receivers_section_survives_an_invalid_file() {
    let loaded = load(
        "receivers:\n  otlp_http: { endpoint: \"127.0.0.1:5999\" }\nflush: { mode: sometimes }\n",
        &[],
    );
    assert!(loaded.error.is_some());
    assert_eq!(
        loaded.config.http_receiver,
        Some("127.0.0.1:5999".parse().unwrap())
    );
    assert_eq!(loaded.config.flush, Config::default().flush);
    // An invalid receivers section itself falls back to the default ports.
    let loaded = load("receivers:\n  otlp_http: { endpoint: nowhere }\n", &[]);
    assert_eq!(loaded.config.http_receiver, Config::default().http_receiver);
}

#[test]
fn the_shipped_otel_config_yaml_is_valid_and_spells_out_the_defaults() {
    let text = include_str!("../../../../otel-config.yaml");
    let loaded = load(text, &[]);
    assert_eq!(loaded.error, None);
    let mut expected = Config::default();
    if let Some(telemetry) = expected.telemetry_api.as_mut() {
        telemetry.faas_trigger = "http"; // the one non-default: the function is behind API Gateway
    }
    assert_eq!(loaded.config, expected);
}

#[test]
fn each_flush_duration_lands_in_its_field_and_names_its_key_when_too_small() {
    let loaded = load(
        "flush: { interval_ms: 1, adaptive_busy_threshold_ms: 2, completion_timeout_ms: 3, max_delay_ms: 4, shutdown_margin_ms: 5 }\n",
        &[],
    );
    assert_eq!(loaded.error, None);
    let f = loaded.config.flush;
    assert_eq!(
        [
            f.interval,
            f.busy_threshold,
            f.completion_timeout,
            f.max_delay,
            f.shutdown_margin
        ],
        [1, 2, 3, 4, 5].map(Duration::from_millis)
    );
    for (key, zero_allowed) in [
        ("interval_ms", false),
        ("adaptive_busy_threshold_ms", false),
        ("completion_timeout_ms", true),
        ("max_delay_ms", false),
        ("shutdown_margin_ms", true),
    ] {
        let loaded = load(&format!("flush:\n  {key}: 0\n"), &[]);
        if zero_allowed {
            assert_eq!(loaded.error, None, "{key}");
        } else {
            let error = loaded.error.expect(key).to_string();
            assert!(
                error.contains(&format!("flush.{key}")) && error.contains("at least 1"),
                "{error}"
            );
        }
    }
}
