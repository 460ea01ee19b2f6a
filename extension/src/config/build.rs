//! Turns the file and the environment into a validated [`Config`]: defaults, `${env:…}` substitution,
//! `OTEL_*` overrides, and checks that name the offending key.

use super::env::{EnvLookup, parse_key_value_list, substitute};
use super::exporter::exporter;
use super::file::{FileConfig, ListenerSection, ReceiversSection};
use super::telemetry::telemetry_api;
use super::{Config, ConfigError, DEFAULT_CONFIG_PATH, FlushMode};
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
    let grpc_receiver = listener(grpc_section, "receivers.otlp_grpc", defaults.grpc_receiver)?;

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
        // Each duration: (field, file value, key, minimum in ms).
        #[rustfmt::skip]
        let durations = [
            (&mut flush.interval, section.interval_ms, "flush.interval_ms", 1),
            (&mut flush.busy_threshold, section.adaptive_busy_threshold_ms, "flush.adaptive_busy_threshold_ms", 1),
            (&mut flush.completion_timeout, section.completion_timeout_ms, "flush.completion_timeout_ms", 0),
            (&mut flush.max_delay, section.max_delay_ms, "flush.max_delay_ms", 1),
            (&mut flush.shutdown_margin, section.shutdown_margin_ms, "flush.shutdown_margin_ms", 0),
        ];
        for (field, value, key, min) in durations {
            *field = millis(value, key, min, *field)?;
        }
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

    let telemetry_api = telemetry_api(file.telemetry_api.as_ref())?;

    Ok(Config {
        http_receiver,
        grpc_receiver,
        exporter,
        console,
        flush,
        limits,
        resource_attributes,
        telemetry_api,
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

pub(super) fn millis(
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

#[cfg(test)]
pub(super) mod tests;
