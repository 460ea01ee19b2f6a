//! The function's settings, read once at init from the environment. A bad value is an error that
//! names the variable and says what is expected.

use crate::telemetry::sidecar::Endpoint;
use opentelemetry_sdk::metrics::Temporality;
use std::time::Duration;

/// Where the function hands its telemetry off when no `OTEL_SIDECAR_ENDPOINT` is set: the
/// sidecar's OTLP/HTTP receiver in the same sandbox.
pub const DEFAULT_SIDECAR_ENDPOINT: &str = sidecar_contract::DEFAULT_ENDPOINT;
/// How long one hand-off (an OTLP/HTTP POST to the sidecar) may take by default.
pub const DEFAULT_HANDOFF_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest hand-off timeout accepted: a probe of a stuck sidecar costs one timeout of billed time.
pub const MAX_HANDOFF_TIMEOUT_MS: u64 = 60_000;

/// Everything the function reads from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `S3_PAGE_SIZE`: `MaxBuckets` per `ListBuckets` page (1–10000); unset = S3's default.
    pub s3_page_size: Option<i32>,
    /// Telemetry hand-off settings.
    pub telemetry: TelemetrySettings,
    /// Logging settings (Lambda's advanced logging controls).
    pub log: LogSettings,
}

/// Where and how the function exports its spans and metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetrySettings {
    /// `OTEL_SDK_DISABLED=true` turns telemetry off.
    pub enabled: bool,
    /// `OTEL_SIDECAR_ENDPOINT`: the OTLP/HTTP base URL of the sidecar. Not
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: Lambda gives the function and its extensions the same
    /// environment, and that standard variable names the *backend* the sidecar exports to.
    pub endpoint: Endpoint,
    /// `OTEL_SIDECAR_TIMEOUT_MS`: deadline of one hand-off, all its requests included.
    pub timeout: Duration,
    /// `OTEL_SERVICE_NAME`, when set: it wins over a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, which wins over the function name.
    pub service_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the service name of last resort.
    pub function_name: Option<String>,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (`cumulative`, `delta` or `lowmemory`, any
    /// case; the specification's variable, as the OTLP exporters read it): cumulative by default.
    pub metrics_temporality: Temporality,
}

/// Log format and level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// `AWS_LAMBDA_LOG_FORMAT=JSON` (case-insensitive); Text otherwise.
    pub json: bool,
    /// `AWS_LAMBDA_LOG_LEVEL` (TRACE…FATAL), else `RUST_LOG`, else `info`: a `tracing` filter.
    pub filter: String,
}

/// A setting the environment gives in a form we cannot use.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: {expected}")]
pub struct ConfigError {
    /// The environment variable, e.g. `S3_PAGE_SIZE`.
    pub variable: &'static str,
    /// Its value as set.
    pub value: String,
    /// What it should look like, for the person who set it.
    pub expected: &'static str,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let s3_page_size = match lookup("S3_PAGE_SIZE") {
            None => None,
            Some(value) => Some(
                value
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or(ConfigError {
                        variable: "S3_PAGE_SIZE",
                        value,
                        expected: "a whole number from 1 to 10000",
                    })?,
            ),
        };
        let enabled = match lookup("OTEL_SDK_DISABLED") {
            None => true,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" => false,
                "false" | "" => true,
                _ => {
                    return Err(ConfigError {
                        variable: "OTEL_SDK_DISABLED",
                        value,
                        expected: "true or false",
                    });
                }
            },
        };
        let endpoint = lookup("OTEL_SIDECAR_ENDPOINT")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_SIDECAR_ENDPOINT.to_string());
        let endpoint = Endpoint::parse(&endpoint).map_err(|_| ConfigError {
            variable: "OTEL_SIDECAR_ENDPOINT",
            value: endpoint,
            expected: "an http:// URL with a host (and a port from 1 to 65535), no userinfo, query or fragment: the sidecar in the same sandbox, which does the TLS to the backend",
        })?;
        let timeout = match lookup("OTEL_SIDECAR_TIMEOUT_MS") {
            None => DEFAULT_HANDOFF_TIMEOUT,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=MAX_HANDOFF_TIMEOUT_MS).contains(ms))
                .map(Duration::from_millis)
                .ok_or(ConfigError {
                    variable: "OTEL_SIDECAR_TIMEOUT_MS",
                    value,
                    expected: "a number of milliseconds from 1 to 60000",
                })?,
        };
        let service_name = lookup("OTEL_SERVICE_NAME").filter(|v| !v.trim().is_empty());
        let function_name = lookup("AWS_LAMBDA_FUNCTION_NAME").filter(|v| !v.trim().is_empty());
        let metrics_temporality = match lookup("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        {
            None => Temporality::Cumulative,
            Some(value) if value.trim().is_empty() => Temporality::Cumulative,
            Some(value) => value.trim().parse().map_err(|()| ConfigError {
                variable: "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                value,
                expected: "cumulative, delta or lowmemory",
            })?,
        };
        let json = lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json"));
        let filter = match lookup("AWS_LAMBDA_LOG_LEVEL") {
            Some(level) => lambda_level_filter(&level).ok_or(ConfigError {
                variable: "AWS_LAMBDA_LOG_LEVEL",
                value: level,
                expected: "one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
            })?,
            None => lookup("RUST_LOG").unwrap_or_else(|| "info".to_string()),
        };
        Ok(Settings {
            s3_page_size,
            telemetry: TelemetrySettings {
                enabled,
                endpoint,
                timeout,
                service_name,
                function_name,
                metrics_temporality,
            },
            log: LogSettings { json, filter },
        })
    }
}

/// Lambda's log levels as a `tracing` filter (FATAL has no `tracing` level: ERROR).
fn lambda_level_filter(level: &str) -> Option<String> {
    let level = match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => return None,
    };
    Some(level.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_hand_off_to_the_local_sidecar() {
        let s = settings(&[("AWS_LAMBDA_FUNCTION_NAME", "aws-rust-http-api-dev-api")]).unwrap();
        assert_eq!(s.s3_page_size, None);
        assert!(s.telemetry.enabled);
        assert_eq!(
            s.telemetry.endpoint,
            Endpoint::parse("http://127.0.0.1:4318").unwrap()
        );
        assert_eq!(s.telemetry.timeout, Duration::from_millis(500));
        assert_eq!(s.telemetry.service_name, None);
        assert_eq!(
            s.telemetry.function_name.as_deref(),
            Some("aws-rust-http-api-dev-api")
        );
        assert_eq!(s.telemetry.metrics_temporality, Temporality::Cumulative);
        assert!(!s.log.json);
        assert_eq!(s.log.filter, "info");
    }

    #[test]
    fn metrics_temporality_follows_the_otlp_preference() {
        let s =
            settings(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta")]).unwrap();
        assert_eq!(s.telemetry.metrics_temporality, Temporality::Delta);
        let bad = settings(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "both")]);
        assert_eq!(
            bad.unwrap_err().variable,
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
        );
    }

    #[test]
    fn the_backend_endpoint_is_not_the_hand_off_endpoint() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io")]).unwrap();
        assert_eq!(
            s.telemetry.endpoint,
            Endpoint::parse(DEFAULT_SIDECAR_ENDPOINT).unwrap()
        );
    }

    #[test]
    fn lambda_logging_controls() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
            ("RUST_LOG", "trace"),
        ])
        .unwrap();
        assert!(s.log.json);
        assert_eq!(s.log.filter, "error");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (pairs, variable) in [
            (vec![("S3_PAGE_SIZE", "0")], "S3_PAGE_SIZE"),
            (vec![("S3_PAGE_SIZE", "many")], "S3_PAGE_SIZE"),
            (vec![("OTEL_SDK_DISABLED", "yes")], "OTEL_SDK_DISABLED"),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "127.0.0.1:4318")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "http://")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "http://127.0.0.1:99999")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "http://127.0.0.1:0")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "http://side car:4318")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "http://127.0.0.1:4318/?x=1")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_ENDPOINT", "https://127.0.0.1:4318")],
                "OTEL_SIDECAR_ENDPOINT",
            ),
            (
                vec![("OTEL_SIDECAR_TIMEOUT_MS", "-5")],
                "OTEL_SIDECAR_TIMEOUT_MS",
            ),
            (
                vec![("OTEL_SIDECAR_TIMEOUT_MS", "0")],
                "OTEL_SIDECAR_TIMEOUT_MS",
            ),
            (
                vec![("OTEL_SIDECAR_TIMEOUT_MS", "60001")],
                "OTEL_SIDECAR_TIMEOUT_MS",
            ),
            (
                vec![("OTEL_SIDECAR_TIMEOUT_MS", "18446744073709551615")],
                "OTEL_SIDECAR_TIMEOUT_MS",
            ),
            (
                vec![("AWS_LAMBDA_LOG_LEVEL", "LOUD")],
                "AWS_LAMBDA_LOG_LEVEL",
            ),
        ] {
            let error = settings(&pairs).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(error.to_string().contains(variable));
        }
    }

    #[test]
    fn sidecar_endpoints_that_are_accepted() {
        for endpoint in [
            "http://127.0.0.1:4318",
            "http://localhost:4318/",
            "http://sidecar.internal",
            "http://[::1]:4318",
            "http://127.0.0.1:4318/otlp/",
        ] {
            let s = settings(&[("OTEL_SIDECAR_ENDPOINT", endpoint)]).unwrap();
            assert_eq!(s.telemetry.endpoint, Endpoint::parse(endpoint).unwrap());
        }
        let s = settings(&[("OTEL_SIDECAR_TIMEOUT_MS", "60000")]).unwrap();
        assert_eq!(s.telemetry.timeout, Duration::from_secs(60));
    }

    #[test]
    fn sdk_disabled_and_page_size() {
        let s = settings(&[("OTEL_SDK_DISABLED", "TRUE"), ("S3_PAGE_SIZE", "2")]).unwrap();
        assert!(!s.telemetry.enabled);
        assert_eq!(s.s3_page_size, Some(2));
    }
}
