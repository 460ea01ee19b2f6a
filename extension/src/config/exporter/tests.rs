//! Unit tests of the exporter settings: the standard `OTEL_EXPORTER_OTLP_*` variables, generic and per
//! signal, their precedence and their warnings.

use crate::config::build::tests::{FULL, load};
use std::time::Duration;

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
fn an_endpoint_variable_pointing_at_the_sidecar_leaves_the_files_endpoint_in_force() {
    // The Lambda layer's situation: the function's SDK is pointed at the sidecar through the shared environment,
    // the sidecar's backend comes from its file.
    let loaded = load(
        "exporter: { endpoint: \"https://backend.example\" }\n",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:4318/v1/traces",
            ),
        ],
    );
    assert_eq!(loaded.error, None);
    let exporter = loaded.config.exporter.expect("the file's endpoint");
    assert_eq!(exporter.traces.url, "https://backend.example/v1/traces");
    assert_eq!(exporter.metrics.url, "https://backend.example/v1/metrics");
    assert_eq!(exporter.logs.url, "https://backend.example/v1/logs");
    // One warning per variable, naming it.
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].starts_with("OTEL_EXPORTER_OTLP_ENDPOINT ignored"));
    assert!(loaded.warnings[1].starts_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ignored"));
}

#[test]
fn an_endpoint_for_some_signals_only_is_not_silently_dropped() {
    // One per-signal variable and no base endpoint: the sidecar cannot export every signal, says so once
    // and prints to the console instead (was silent: the check ran after the endpoints were taken).
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    ] {
        let loaded = load("", &[(var, "https://collector/v1/x")]);
        assert_eq!(loaded.error, None, "{var}");
        assert!(loaded.config.exporter.is_none(), "{var}");
        assert!(loaded.config.console, "{var}");
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains("endpoints must be given for all signals")),
            "{var}: {:?}",
            loaded.warnings
        );
    }
}
