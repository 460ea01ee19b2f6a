//! Turns the file and the environment into a validated [`Config`]: defaults, `${env:…}` substitution,
//! `OTEL_*` overrides, and checks that name the offending key.

use super::env::{EnvLookup, parse_key_value_list, substitute};
use super::file::{ExporterSection, FileConfig, ListenerSection, ReceiversSection};
use super::{
    Config, ConfigError, DEFAULT_CONFIG_PATH, ExporterConfig, FlushMode, Headers, RetryConfig,
};
use std::net::SocketAddr;
use std::time::Duration;

/// The outcome of loading: always a usable config, plus what went wrong on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration to run with.
    pub config: Config,
    /// The file that was read, if any.
    pub path: Option<String>,
    /// Set when the file was rejected and the defaults are used instead.
    pub error: Option<ConfigError>,
    /// Ignored `OTEL_*` variables and similar non-fatal notes (never containing secret values).
    pub warnings: Vec<String>,
}

/// Loads the file named by `OTEL_SIDECAR_CONFIG` (default [`DEFAULT_CONFIG_PATH`]); an absent file means defaults.
pub fn load(env: EnvLookup<'_>) -> Loaded {
    let path = env("OTEL_SIDECAR_CONFIG")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_CONFIG_PATH.to_owned());
    match std::fs::read_to_string(&path) {
        Ok(text) => load_from_str(&text, &path, env),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut loaded = load_from_str("", &path, env);
            loaded.path = None;
            loaded
        }
        Err(error) => {
            let mut loaded = load_from_str("", &path, env);
            loaded.path = None;
            loaded.error = Some(ConfigError::Unreadable {
                path,
                reason: error.to_string(),
            });
            loaded
        }
    }
}

/// Validates `text` (the file's content, `path` only for messages) together with the environment.
pub fn load_from_str(text: &str, path: &str, env: EnvLookup<'_>) -> Loaded {
    let mut warnings = Vec::new();
    let parsed = if text.trim().is_empty() {
        Ok(FileConfig::default())
    } else {
        serde_yaml_ng::from_str::<FileConfig>(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    };
    let result = parsed.and_then(|file| build(&file, env, &mut warnings));
    match result {
        Ok(config) => Loaded {
            config,
            path: Some(path.to_owned()),
            error: None,
            warnings,
        },
        Err(error) => {
            let mut fallback_warnings = Vec::new();
            // The defaults with only the environment applied cannot fail: bad variables are warnings.
            // A receivers section that is valid on its own is kept, so the function still reaches us.
            let fallback = FileConfig {
                receivers: salvage_receivers(text),
                ..FileConfig::default()
            };
            let config = build(&fallback, env, &mut fallback_warnings)
                .or_else(|_| build(&FileConfig::default(), env, &mut fallback_warnings))
                .unwrap_or_default();
            Loaded {
                config,
                path: Some(path.to_owned()),
                error: Some(error),
                warnings: fallback_warnings,
            }
        }
    }
}

/// The `receivers` section of an otherwise invalid file, if it parses on its own.
fn salvage_receivers(text: &str) -> Option<ReceiversSection> {
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
    let section = document.get("receivers")?.clone();
    serde_yaml_ng::from_value(section).ok()
}

fn build(
    file: &FileConfig,
    env: EnvLookup<'_>,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    let receivers = file.receivers.as_ref();
    let http_receiver = listener(
        receivers.and_then(|r| r.otlp_http.as_ref()),
        "receivers.otlp_http",
        defaults.http_receiver,
    )?;
    let grpc_section = receivers.and_then(|r| r.otlp_grpc.as_ref());
    let grpc_default =
        Some(SocketAddr::from(([127, 0, 0, 1], 4317))).filter(|_| cfg!(feature = "grpc"));
    let grpc_receiver = listener(grpc_section, "receivers.otlp_grpc", grpc_default)?;

    let exporter = exporter(
        file.exporter.as_ref(),
        env,
        warnings,
        [http_receiver, grpc_receiver],
    )?;
    let console = file
        .console
        .as_ref()
        .and_then(|c| c.enabled)
        .unwrap_or(exporter.is_none());

    let mut flush = defaults.flush;
    if let Some(section) = &file.flush {
        if let Some(mode) = &section.mode {
            flush.mode = match mode.as_str() {
                "adaptive" => FlushMode::Adaptive,
                "end" => FlushMode::End,
                "periodic" => FlushMode::Periodic,
                "continuous" => FlushMode::Continuous,
                other => {
                    return Err(ConfigError::invalid(
                        "flush.mode",
                        format!("`{other}` is not one of adaptive, end, periodic, continuous"),
                    ));
                }
            };
        }
        flush.interval = millis(section.interval_ms, "flush.interval_ms", 1, flush.interval)?;
        flush.busy_threshold = millis(
            section.adaptive_busy_threshold_ms,
            "flush.adaptive_busy_threshold_ms",
            1,
            flush.busy_threshold,
        )?;
        flush.completion_timeout = millis(
            section.completion_timeout_ms,
            "flush.completion_timeout_ms",
            0,
            flush.completion_timeout,
        )?;
        flush.max_delay = millis(
            section.max_delay_ms,
            "flush.max_delay_ms",
            1,
            flush.max_delay,
        )?;
        flush.shutdown_margin = millis(
            section.shutdown_margin_ms,
            "flush.shutdown_margin_ms",
            0,
            flush.shutdown_margin,
        )?;
        if flush.shutdown_margin >= Duration::from_millis(2000) {
            return Err(ConfigError::invalid(
                "flush.shutdown_margin_ms",
                "must be below 2000 (Lambda gives extensions about 2 s at SHUTDOWN)",
            ));
        }
    }

    let mut limits = defaults.limits;
    if let Some(section) = &file.limits {
        if let Some(bytes) = section.max_buffer_bytes {
            limits.max_buffer_bytes = usize_at_least(bytes, "limits.max_buffer_bytes", 1024)?;
        }
        if let Some(bytes) = section.max_request_bytes {
            limits.max_request_bytes = usize_at_least(bytes, "limits.max_request_bytes", 1024)?;
        }
        if limits.max_request_bytes > limits.max_buffer_bytes {
            return Err(ConfigError::invalid(
                "limits.max_request_bytes",
                format!(
                    "{} exceeds limits.max_buffer_bytes ({})",
                    limits.max_request_bytes, limits.max_buffer_bytes
                ),
            ));
        }
    }

    let mut resource_attributes = Vec::new();
    if let Some(name) = env("OTEL_SERVICE_NAME").filter(|n| !n.is_empty()) {
        resource_attributes.push(("service.name".to_owned(), name));
    }
    if let Some(raw) = env("OTEL_RESOURCE_ATTRIBUTES") {
        match parse_key_value_list(&raw) {
            Ok(entries) => resource_attributes.extend(entries),
            Err(reason) => warnings.push(format!("OTEL_RESOURCE_ATTRIBUTES ignored: {reason}")),
        }
    }
    if let Some(attributes) = file.resource.as_ref().and_then(|r| r.attributes.as_ref()) {
        for (key, value) in attributes {
            let value = substitute(&format!("resource.attributes.{key}"), value, env)?;
            resource_attributes.push((key.clone(), value));
        }
    }

    Ok(Config {
        http_receiver,
        grpc_receiver,
        exporter,
        console,
        flush,
        limits,
        resource_attributes,
    })
}

fn listener(
    section: Option<&ListenerSection>,
    key: &str,
    default: Option<SocketAddr>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(section) = section else {
        return Ok(default);
    };
    if section.enabled == Some(false) {
        return Ok(None);
    }
    match &section.endpoint {
        None => Ok(default),
        Some(endpoint) => endpoint.parse::<SocketAddr>().map(Some).map_err(|_| {
            ConfigError::invalid(
                &format!("{key}.endpoint"),
                format!("`{endpoint}` is not an IP address and port such as 127.0.0.1:4318"),
            )
        }),
    }
}

fn millis(
    value: Option<u64>,
    key: &str,
    min: u64,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if v < min => Err(ConfigError::invalid(key, format!("must be at least {min}"))),
        Some(v) => Ok(Duration::from_millis(v)),
    }
}

fn usize_at_least(value: u64, key: &str, min: u64) -> Result<usize, ConfigError> {
    if value < min {
        return Err(ConfigError::invalid(key, format!("must be at least {min}")));
    }
    usize::try_from(value).map_err(|_| ConfigError::invalid(key, "too large for this platform"))
}

/// Where a setting came from: the file is the user's explicit intent, a variable may be meant for the function.
#[derive(Clone, Copy, PartialEq)]
enum Origin {
    File,
    Env,
}

fn exporter(
    section: Option<&ExporterSection>,
    env: EnvLookup<'_>,
    warnings: &mut Vec<String>,
    receivers: [Option<SocketAddr>; 2],
) -> Result<Option<ExporterConfig>, ConfigError> {
    let empty = ExporterSection::default();
    let section = section.unwrap_or(&empty);
    let file_string = |value: &Option<String>, key: &str| -> Result<Option<String>, ConfigError> {
        value
            .as_deref()
            .map(|v| substitute(key, v, env))
            .transpose()
            .map(|v| v.filter(|s| !s.is_empty()))
    };
    let env_string = |name: &str| env(name).filter(|v| !v.trim().is_empty());

    if let Some(protocol) = file_string(&section.protocol, "exporter.protocol")?
        && protocol != "http/protobuf"
    {
        return Err(ConfigError::invalid(
            "exporter.protocol",
            format!("`{protocol}` is not supported; use http/protobuf"),
        ));
    }

    // Base endpoint: the variable wins over the file, unless it points back at our own receiver (it is then
    // the function's setting, meant to reach this sidecar).
    let mut base = file_string(&section.endpoint, "exporter.endpoint")?
        .map(|u| (u, Origin::File, "exporter.endpoint"));
    if let Some(url) = env_string("OTEL_EXPORTER_OTLP_ENDPOINT") {
        base = Some((url, Origin::Env, "OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
    let signal = |file_value: &Option<String>,
                  file_key: &'static str,
                  var: &'static str,
                  path: &str|
     -> Result<Option<(String, Origin, &'static str)>, ConfigError> {
        if let Some(url) = env_string(var) {
            return Ok(Some((url, Origin::Env, var)));
        }
        if let Some(url) = file_string(file_value, file_key)? {
            return Ok(Some((url, Origin::File, file_key)));
        }
        Ok(base.as_ref().map(|(url, origin, key)| {
            (
                format!("{}/{path}", url.trim_end_matches('/')),
                *origin,
                *key,
            )
        }))
    };
    let traces = signal(
        &section.traces_endpoint,
        "exporter.traces_endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "v1/traces",
    )?;
    let metrics = signal(
        &section.metrics_endpoint,
        "exporter.metrics_endpoint",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "v1/metrics",
    )?;
    let logs = signal(
        &section.logs_endpoint,
        "exporter.logs_endpoint",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "v1/logs",
    )?;

    let mut urls = Vec::new();
    for resolved in [traces, metrics, logs] {
        let Some((url, origin, key)) = resolved else {
            urls.push(None);
            continue;
        };
        match check_url(&url, receivers) {
            Ok(()) => urls.push(Some(url)),
            Err(reason) if origin == Origin::Env => {
                warnings.push(format!("{key} ignored: {reason}"));
                urls.push(None);
            }
            Err(reason) => return Err(ConfigError::invalid(key, reason)),
        }
    }
    let (Some(traces_url), Some(metrics_url), Some(logs_url)) =
        (urls[0].take(), urls[1].take(), urls[2].take())
    else {
        if urls.iter().any(Option::is_some) || section.traces_endpoint.is_some() {
            warnings.push("exporter: endpoints must be given for all signals (or a base endpoint); exporting to the console only".to_owned());
        }
        return Ok(None);
    };

    let mut headers = Vec::new();
    for (name, value) in section.headers.iter().flatten() {
        let key = format!("exporter.headers.{name}");
        let value = substitute(&key, value, env)?;
        check_header(name, &value).map_err(|reason| ConfigError::invalid(&key, reason))?;
        headers.push((name.to_ascii_lowercase(), value));
    }
    if let Some(raw) = env("OTEL_EXPORTER_OTLP_HEADERS") {
        match parse_key_value_list(&raw) {
            Ok(entries) => {
                for (name, value) in entries {
                    match check_header(&name, &value) {
                        Ok(()) => {
                            let name = name.to_ascii_lowercase();
                            headers.retain(|(existing, _)| *existing != name);
                            headers.push((name, value));
                        }
                        Err(reason) => warnings.push(format!(
                            "OTEL_EXPORTER_OTLP_HEADERS entry `{name}` ignored: {reason}"
                        )),
                    }
                }
            }
            Err(reason) => warnings.push(format!("OTEL_EXPORTER_OTLP_HEADERS ignored: {reason}")),
        }
    }

    let mut gzip = match file_string(&section.compression, "exporter.compression")?.as_deref() {
        None | Some("gzip") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ConfigError::invalid(
                "exporter.compression",
                format!("`{other}` is not gzip or none"),
            ));
        }
    };
    match env_string("OTEL_EXPORTER_OTLP_COMPRESSION").as_deref() {
        None => {}
        Some("gzip") => gzip = true,
        Some("none") => gzip = false,
        Some(other) => warnings.push(format!(
            "OTEL_EXPORTER_OTLP_COMPRESSION ignored: `{other}` is not gzip or none"
        )),
    }

    let mut timeout = millis(
        section.timeout_ms,
        "exporter.timeout_ms",
        1,
        Duration::from_secs(10),
    )?;
    if let Some(raw) = env_string("OTEL_EXPORTER_OTLP_TIMEOUT") {
        match raw.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => timeout = Duration::from_millis(ms),
            _ => warnings.push(format!("OTEL_EXPORTER_OTLP_TIMEOUT ignored: `{raw}` is not a positive number of milliseconds")),
        }
    }

    let retry_section = section.retry.as_ref();
    let max_attempts = match retry_section.and_then(|r| r.max_attempts) {
        None => 5,
        Some(0) => {
            return Err(ConfigError::invalid(
                "exporter.retry.max_attempts",
                "must be at least 1",
            ));
        }
        Some(n) => n,
    };
    let initial_backoff = millis(
        retry_section.and_then(|r| r.initial_backoff_ms),
        "exporter.retry.initial_backoff_ms",
        1,
        Duration::from_millis(100),
    )?;
    let max_backoff = millis(
        retry_section.and_then(|r| r.max_backoff_ms),
        "exporter.retry.max_backoff_ms",
        1,
        Duration::from_secs(5),
    )?;
    if max_backoff < initial_backoff {
        return Err(ConfigError::invalid(
            "exporter.retry.max_backoff_ms",
            "must not be below initial_backoff_ms",
        ));
    }

    Ok(Some(ExporterConfig {
        traces_url,
        metrics_url,
        logs_url,
        headers: Headers(headers),
        gzip,
        timeout,
        retry: RetryConfig {
            max_attempts,
            initial_backoff,
            max_backoff,
        },
    }))
}

fn check_url(url: &str, receivers: [Option<SocketAddr>; 2]) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}` must start with http:// or https://"));
    }
    let loopback = matches!(
        parsed.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "0.0.0.0")
    );
    let port = parsed.port_or_known_default();
    if loopback
        && receivers
            .iter()
            .flatten()
            .any(|addr| Some(addr.port()) == port)
    {
        return Err(format!(
            "`{url}` is this sidecar's own receiver (that setting is for the function)"
        ));
    }
    Ok(())
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid HTTP header name"))?;
    // The value is never echoed: it is usually a secret.
    http::HeaderValue::from_str(value)
        .map_err(|_| "the value contains characters not allowed in an HTTP header".to_owned())?;
    Ok(())
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
