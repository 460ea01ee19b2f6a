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

fn load(text: &str, env: &[(&str, &str)]) -> Loaded {
    load_from_str(text, "/opt/otel-config.yaml", &with_env(env))
}

const FULL: &str = r#"
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
fn per_signal_variables_override_the_generic_ones_for_their_signal_only() {
    let env = [
        ("HONEYCOMB_API_KEY", "k"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=generic,x-env=prod"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "750"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Team=traces-key"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2000"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
    ];
    let loaded = load(FULL, &env);
    assert_eq!((loaded.error, loaded.warnings.len()), (None, 0));
    let exporter = loaded.config.exporter.unwrap();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    // The file's header, then the generic list, then the signal's own list over both.
    assert_eq!(
        exporter.traces.headers.0,
        pairs(&[
            ("x-honeycomb-team", "k"),
            ("x-env", "prod"),
            ("x-team", "traces-key")
        ])
    );
    let generic = pairs(&[
        ("x-honeycomb-team", "k"),
        ("x-team", "generic"),
        ("x-env", "prod"),
    ]);
    assert_eq!(exporter.metrics.headers.0, generic);
    assert_eq!(exporter.logs.headers.0, generic);
    assert_eq!(exporter.metrics.timeout, Duration::from_millis(2000));
    assert_eq!(exporter.traces.timeout, Duration::from_millis(750));
    assert_eq!(exporter.logs.timeout, Duration::from_millis(750));
    // The file says `compression: none`; the generic variable says gzip; logs say none again.
    assert!(exporter.traces.gzip && exporter.metrics.gzip);
    assert!(!exporter.logs.gzip);
}

#[test]
fn bad_per_signal_variables_are_ignored_with_a_warning_naming_them() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=generic"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "750"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "broken"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "bad name=v,x-ok=1"),
    ];
    let loaded = load("", &env);
    assert_eq!(loaded.error, None);
    let exporter = loaded.config.exporter.unwrap();
    // Each bad value falls back to the generic one.
    assert_eq!(exporter.traces.timeout, Duration::from_millis(750));
    assert!(!exporter.metrics.gzip);
    assert_eq!(
        exporter.logs.headers.0,
        vec![("x-team".to_owned(), "generic".to_owned())]
    );
    // A bad entry is dropped, the good ones of the same list are kept.
    assert_eq!(
        exporter.metrics.headers.names(),
        vec!["x-team", "x-ok"],
        "{:?}",
        loaded.warnings
    );
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS entry `bad name`",
    ] {
        assert!(
            loaded.warnings.iter().any(|w| w.starts_with(var)),
            "{var}: {:?}",
            loaded.warnings
        );
    }
    assert_eq!(loaded.warnings.len(), 4, "{:?}", loaded.warnings);
}

#[test]
fn exporter_hosts_must_be_ascii() {
    // The sidecar links `url` without Unicode IDNA tables (binary size): an internationalised host is
    // given in its xn-- form, and a Unicode one is refused with the key named.
    let ascii = load(
        "exporter: { endpoint: \"https://xn--bcher-kva.example\" }\n",
        &[],
    );
    assert_eq!(ascii.error, None);
    assert_eq!(
        ascii.config.exporter.unwrap().traces.url,
        "https://xn--bcher-kva.example/v1/traces"
    );
    let unicode = load("exporter: { endpoint: \"https://bücher.example\" }\n", &[]);
    let error = unicode.error.expect("refused").to_string();
    assert!(error.contains("exporter.endpoint"), "{error}");
}

#[test]
fn bad_variables_are_ignored_with_a_warning() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "broken"),
    ];
    let loaded = load("", &env);
    assert_eq!(loaded.error, None);
    let exporter = loaded.config.exporter.unwrap();
    assert_eq!(exporter.traces.timeout, Duration::from_secs(10));
    assert!(exporter.traces.gzip);
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
}

#[test]
fn the_functions_own_endpoint_variable_pointing_at_the_sidecar_is_ignored() {
    let loaded = load(
        "",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")],
    );
    assert_eq!(loaded.error, None);
    assert!(loaded.config.exporter.is_none());
    assert!(loaded.config.console);
    assert!(
        loaded.warnings.iter().any(|w| w.contains("own receiver")),
        "{:?}",
        loaded.warnings
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
    let text = include_str!("../../../otel-config.yaml");
    let loaded = load(text, &[]);
    assert_eq!(loaded.error, None);
    let mut expected = Config::default();
    if let Some(telemetry) = expected.telemetry_api.as_mut() {
        telemetry.faas_trigger = "http"; // the one non-default: the function is behind API Gateway
    }
    assert_eq!(loaded.config, expected);
}
