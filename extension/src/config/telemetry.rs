//! The `telemetry_api` section, validated: listener address, streams, Lambda's buffering limits (checked
//! against the ranges the Telemetry API accepts, so a bad value is named here rather than refused by
//! Lambda at subscription time) and the `faas.trigger` value.

use super::ConfigError;
use super::build::millis;
use super::file::TelemetryApiSection;
use std::net::SocketAddr;
use std::time::Duration;

/// The streams the Telemetry API offers.
pub const STREAMS: [&str; 3] = ["platform", "function", "extension"];

/// `faas.trigger` values of the semantic conventions.
const TRIGGERS: [&str; 5] = ["datasource", "http", "pubsub", "timer", "other"];

/// The validated Telemetry API settings (present when the subscription is enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryApiConfig {
    /// Where to listen for batches.
    pub listener: SocketAddr,
    /// Streams to subscribe to (a subset of [`STREAMS`], in that order).
    pub types: Vec<&'static str>,
    /// Lambda's buffering: longest delay before a batch is sent.
    pub buffer_timeout: Duration,
    /// Lambda's buffering: events per batch.
    pub buffer_max_items: u64,
    /// Lambda's buffering: bytes per batch.
    pub buffer_max_bytes: u64,
    /// `faas.trigger` of the produced spans and metrics.
    pub faas_trigger: &'static str,
}

impl Default for TelemetryApiConfig {
    fn default() -> Self {
        Self {
            listener: SocketAddr::from(([0, 0, 0, 0], 4319)),
            types: STREAMS.to_vec(),
            buffer_timeout: Duration::from_millis(25),
            buffer_max_items: 1000,
            buffer_max_bytes: 262_144,
            faas_trigger: "other",
        }
    }
}

/// Validates the section; `Ok(None)` when the subscription is disabled.
pub(super) fn telemetry_api(
    section: Option<&TelemetryApiSection>,
) -> Result<Option<TelemetryApiConfig>, ConfigError> {
    let mut config = TelemetryApiConfig::default();
    let Some(section) = section else {
        return Ok(Some(config));
    };
    if section.enabled == Some(false) {
        return Ok(None);
    }
    if let Some(listener) = &section.listener {
        config.listener = listener.parse().map_err(|_| {
            ConfigError::invalid(
                "telemetry_api.listener",
                format!("`{listener}` is not an IP address and port such as 0.0.0.0:4319"),
            )
        })?;
        if config.listener.port() == 0 {
            return Err(ConfigError::invalid(
                "telemetry_api.listener",
                "needs a fixed port: Lambda is told where to deliver before the sidecar could report a random one",
            ));
        }
    }
    if let Some(types) = &section.types {
        let mut chosen = Vec::new();
        for name in types {
            let known = STREAMS
                .iter()
                .find(|s| **s == name.as_str())
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "telemetry_api.types",
                        format!("`{name}` is not one of platform, function, extension"),
                    )
                })?;
            chosen.push(*known);
        }
        if chosen.is_empty() {
            return Err(ConfigError::invalid(
                "telemetry_api.types",
                "is empty; set `telemetry_api.enabled: false` to turn the subscription off",
            ));
        }
        config.types = STREAMS.into_iter().filter(|s| chosen.contains(s)).collect();
    }
    if let Some(buffering) = &section.buffering {
        config.buffer_timeout = millis(
            buffering.timeout_ms,
            "telemetry_api.buffering.timeout_ms",
            25,
            config.buffer_timeout,
        )?;
        if config.buffer_timeout > Duration::from_millis(30_000) {
            return Err(ConfigError::invalid(
                "telemetry_api.buffering.timeout_ms",
                "must be at most 30000 (the Telemetry API's limit)",
            ));
        }
        config.buffer_max_items = within(
            buffering.max_items,
            "telemetry_api.buffering.max_items",
            1000..=10_000,
            config.buffer_max_items,
        )?;
        config.buffer_max_bytes = within(
            buffering.max_bytes,
            "telemetry_api.buffering.max_bytes",
            262_144..=1_048_576,
            config.buffer_max_bytes,
        )?;
    }
    if let Some(trigger) = &section.faas_trigger {
        config.faas_trigger = TRIGGERS
            .into_iter()
            .find(|t| *t == trigger.as_str())
            .ok_or_else(|| {
                ConfigError::invalid(
                    "telemetry_api.faas_trigger",
                    format!("`{trigger}` is not one of datasource, http, pubsub, timer, other"),
                )
            })?;
    }
    Ok(Some(config))
}

fn within(
    value: Option<u64>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if range.contains(&v) => Ok(v),
        Some(v) => Err(ConfigError::invalid(
            key,
            format!(
                "{v} is outside {}..={} (the Telemetry API's limits)",
                range.start(),
                range.end()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::FileConfig;

    fn parse(yaml: &str) -> Result<Option<TelemetryApiConfig>, ConfigError> {
        let file: FileConfig = serde_yaml_ng::from_str(yaml).expect("valid YAML");
        telemetry_api(file.telemetry_api.as_ref())
    }

    #[test]
    fn absent_section_subscribes_to_everything_with_low_lateness() {
        let config = parse("console: {enabled: true}").unwrap().unwrap();
        assert_eq!(config, TelemetryApiConfig::default());
        assert_eq!(config.buffer_timeout, Duration::from_millis(25));
        assert_eq!(config.types, ["platform", "function", "extension"]);
    }

    #[test]
    fn values_are_checked_against_the_telemetry_api_limits() {
        let ok = parse(
            "telemetry_api: {listener: '127.0.0.1:9999', types: [function, platform], faas_trigger: http,
               buffering: {timeout_ms: 100, max_items: 10000, max_bytes: 262144}}",
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.listener, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(
            ok.types,
            ["platform", "function"],
            "kept in canonical order"
        );
        assert_eq!(ok.faas_trigger, "http");
        assert_eq!(ok.buffer_timeout, Duration::from_millis(100));

        for (yaml, key) in [
            (
                "telemetry_api: {buffering: {timeout_ms: 10}}",
                "telemetry_api.buffering.timeout_ms",
            ),
            (
                "telemetry_api: {buffering: {timeout_ms: 30001}}",
                "telemetry_api.buffering.timeout_ms",
            ),
            (
                "telemetry_api: {buffering: {max_items: 999}}",
                "telemetry_api.buffering.max_items",
            ),
            (
                "telemetry_api: {buffering: {max_bytes: 2000000}}",
                "telemetry_api.buffering.max_bytes",
            ),
            (
                "telemetry_api: {types: [platform, logs]}",
                "telemetry_api.types",
            ),
            ("telemetry_api: {types: []}", "telemetry_api.types"),
            (
                "telemetry_api: {listener: 'sandbox:80'}",
                "telemetry_api.listener",
            ),
            (
                "telemetry_api: {listener: '0.0.0.0:0'}",
                "telemetry_api.listener",
            ),
            (
                "telemetry_api: {faas_trigger: cron}",
                "telemetry_api.faas_trigger",
            ),
        ] {
            match parse(yaml) {
                Err(ConfigError::Invalid { key: named, .. }) => assert_eq!(named, key, "{yaml}"),
                other => panic!("{yaml}: expected an error naming {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn can_be_turned_off() {
        assert_eq!(parse("telemetry_api: {enabled: false}").unwrap(), None);
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let error = serde_yaml_ng::from_str::<FileConfig>("telemetry_api: {buffer: {}}")
            .expect_err("unknown key");
        assert!(error.to_string().contains("buffer"), "{error}");
    }
}
