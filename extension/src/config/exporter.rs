//! The `exporter` section plus the standard `OTEL_EXPORTER_OTLP_*` variables, validated: endpoints per
//! signal (ignoring a variable that points back at our own receiver), headers, compression, timeout, retry.
//! Per the OpenTelemetry specification, `OTEL_EXPORTER_OTLP_<SIGNAL>_{ENDPOINT,HEADERS,COMPRESSION,TIMEOUT}`
//! (SIGNAL: TRACES, METRICS, LOGS) override the generic variable for that signal; per-signal headers are
//! merged over the generic ones (same name: the per-signal value wins).

use super::build::millis;
use super::env::{EnvLookup, parse_key_value_list, substitute};
use super::file::ExporterSection;
use super::{ConfigError, ExporterConfig, Headers, RetryConfig, SignalExport};
use std::net::SocketAddr;
use std::time::Duration;

/// Where a setting came from: the file is the user's explicit intent, a variable may be meant for the function.
#[derive(Clone, Copy, PartialEq)]
enum Origin {
    File,
    Env,
}

pub(super) fn exporter(
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

    // The variables win over the file, unless one is unusable, typically because it points back at our own
    // receiver (it is then the function's setting, meant to reach this sidecar): it is ignored with a warning,
    // once, and the next setting down applies (the file's `exporter.endpoint` in the Lambda layer's config).
    let mut usable_var = |var: &'static str| -> Option<String> {
        let url = env_string(var)?;
        match check_url(&url, receivers) {
            Ok(()) => Some(url),
            Err(reason) => {
                warnings.push(format!("{var} ignored: {reason}"));
                None
            }
        }
    };
    let base_var = usable_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    let signal_vars = [
        usable_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        usable_var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
        usable_var("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
    ];
    let mut base = file_string(&section.endpoint, "exporter.endpoint")?
        .map(|u| (u, Origin::File, "exporter.endpoint"));
    if let Some(url) = base_var {
        base = Some((url, Origin::Env, "OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
    let signal = |file_value: &Option<String>,
                  file_key: &'static str,
                  var: &'static str,
                  var_value: &Option<String>,
                  path: &str|
     -> Result<Option<(String, Origin, &'static str)>, ConfigError> {
        if let Some(url) = var_value.clone() {
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
        &signal_vars[0],
        "v1/traces",
    )?;
    let metrics = signal(
        &section.metrics_endpoint,
        "exporter.metrics_endpoint",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        &signal_vars[1],
        "v1/metrics",
    )?;
    let logs = signal(
        &section.logs_endpoint,
        "exporter.logs_endpoint",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        &signal_vars[2],
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
    let partial = urls.iter().any(Option::is_some);
    let (Some(traces_url), Some(metrics_url), Some(logs_url)) =
        (urls[0].take(), urls[1].take(), urls[2].take())
    else {
        if partial || section.traces_endpoint.is_some() {
            warnings.push("exporter: endpoints must be given for all signals (or a base endpoint); exporting to the console only".to_owned());
        }
        return Ok(None);
    };

    // Headers, compression and timeout: the file, then the generic variables, then each signal's own.
    let mut headers = Vec::new();
    for (name, value) in section.headers.iter().flatten() {
        let key = format!("exporter.headers.{name}");
        let value = substitute(&key, value, env)?;
        check_header(name, &value).map_err(|reason| ConfigError::invalid(&key, reason))?;
        headers.push((name.to_ascii_lowercase(), value));
    }
    merge_headers_var(&mut headers, "OTEL_EXPORTER_OTLP_HEADERS", env, warnings);
    let gzip = match file_string(&section.compression, "exporter.compression")?.as_deref() {
        None | Some("gzip") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ConfigError::invalid(
                "exporter.compression",
                format!("`{other}` is not gzip or none"),
            ));
        }
    };
    let gzip = compression_var("OTEL_EXPORTER_OTLP_COMPRESSION", env, warnings).unwrap_or(gzip);
    let timeout = millis(
        section.timeout_ms,
        "exporter.timeout_ms",
        1,
        Duration::from_secs(10),
    )?;
    let timeout = timeout_var("OTEL_EXPORTER_OTLP_TIMEOUT", env, warnings).unwrap_or(timeout);
    let mut per_signal = |signal: &str, url: String| {
        let mut headers = headers.clone();
        let var = |setting: &str| format!("OTEL_EXPORTER_OTLP_{signal}_{setting}");
        merge_headers_var(&mut headers, &var("HEADERS"), env, warnings);
        SignalExport {
            url,
            headers: Headers(headers),
            gzip: compression_var(&var("COMPRESSION"), env, warnings).unwrap_or(gzip),
            timeout: timeout_var(&var("TIMEOUT"), env, warnings).unwrap_or(timeout),
        }
    };
    let traces = per_signal("TRACES", traces_url);
    let metrics = per_signal("METRICS", metrics_url);
    let logs = per_signal("LOGS", logs_url);

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
        traces,
        metrics,
        logs,
        retry: RetryConfig {
            max_attempts,
            initial_backoff,
            max_backoff,
        },
    }))
}

/// Merges the `name=value` list of variable `var` (if set) over `headers`: an entry replaces the header of
/// the same name, the others stay. A bad list or entry is ignored with a warning naming `var`.
fn merge_headers_var(
    headers: &mut Vec<(String, String)>,
    var: &str,
    env: EnvLookup<'_>,
    warnings: &mut Vec<String>,
) {
    let Some(raw) = env(var) else { return };
    let entries = match parse_key_value_list(&raw) {
        Ok(entries) => entries,
        Err(reason) => return warnings.push(format!("{var} ignored: {reason}")),
    };
    for (name, value) in entries {
        match check_header(&name, &value) {
            Ok(()) => {
                let name = name.to_ascii_lowercase();
                headers.retain(|(existing, _)| *existing != name);
                headers.push((name, value));
            }
            Err(reason) => warnings.push(format!("{var} entry `{name}` ignored: {reason}")),
        }
    }
}

/// Variable `var` as a compression choice (`true`: gzip); `None` when unset, empty or invalid (warned).
fn compression_var(var: &str, env: EnvLookup<'_>, warnings: &mut Vec<String>) -> Option<bool> {
    match env(var)?.trim() {
        "" => None,
        "gzip" => Some(true),
        "none" => Some(false),
        other => {
            warnings.push(format!("{var} ignored: `{other}` is not gzip or none"));
            None
        }
    }
}

/// Variable `var` as a timeout in milliseconds; `None` when unset, empty or invalid (warned).
fn timeout_var(var: &str, env: EnvLookup<'_>, warnings: &mut Vec<String>) -> Option<Duration> {
    let raw = env(var)?;
    if raw.trim().is_empty() {
        return None;
    }
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            warnings.push(format!(
                "{var} ignored: `{raw}` is not a positive number of milliseconds"
            ));
            None
        }
    }
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
mod tests;
