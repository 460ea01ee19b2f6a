//! Configuration: `otel-config.yaml` (raw serde structs in [`file`]) plus the standard `OTEL_*` variables,
//! validated into the typed [`Config`] the rest of the sidecar uses.
//!
//! Loading never fails: an unreadable or invalid file is reported as a [`ConfigError`] naming the key and
//! the reason, and the sidecar then runs on the built-in defaults (console exporter, nothing sent over the
//! network) so the function keeps working; only a `receivers` section that is valid on its own is kept,
//! so the function's exporter still reaches the sidecar. A half-applied file could send data to the wrong
//! place or without its auth header, so nothing else of it is used. A bad `OTEL_*` variable is ignored on
//! its own, with a warning naming it.

mod build;
mod env;
mod exporter;
pub mod file;
mod telemetry;

pub use build::{Loaded, load, load_from_str};
pub use env::{EnvLookup, parse_key_value_list};
pub use telemetry::{STREAMS, TelemetryApiConfig};

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Default path of the config file in the container image.
pub const DEFAULT_CONFIG_PATH: &str = "/opt/otel-config.yaml";

/// A configuration problem; the message names the key (or variable) and says why it is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Unreadable {
        /// The config file's path.
        path: String,
        /// The operating system's error.
        reason: String,
    },
    /// YAML syntax error, unknown key or wrong type (serde's message includes the key path).
    #[error("invalid config file {path}: {reason}")]
    Syntax {
        /// The config file's path.
        path: String,
        /// The YAML parser's message, with the key path and position.
        reason: String,
    },
    /// A key has a value of the right type that is not acceptable.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// The key's dotted path, e.g. `flush.mode`.
        key: String,
        /// What is wrong with the value and what is accepted.
        reason: String,
    },
    /// `${env:NAME}` refers to an unset variable and gives no `:-fallback`.
    #[error(
        "`{key}` refers to environment variable {variable}, which is not set (use `${{env:{variable}:-default}}` for a default)"
    )]
    MissingVariable {
        /// The key whose value refers to the variable.
        key: String,
        /// The unset variable's name.
        variable: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// OTLP/HTTP listen address, if enabled.
    pub http_receiver: Option<SocketAddr>,
    /// OTLP/gRPC listen address, if enabled.
    pub grpc_receiver: Option<SocketAddr>,
    /// Remote OTLP/HTTP export; `None` means nothing leaves the sandbox.
    pub exporter: Option<ExporterConfig>,
    /// Print the console summary.
    pub console: bool,
    /// When buffered data is exported (`flush.*`).
    pub flush: FlushConfig,
    /// How much the buffer and one request may hold (`limits.*`).
    pub limits: Limits,
    /// Resource attributes from `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and `resource.attributes`,
    /// in increasing precedence (later entries win).
    pub resource_attributes: Vec<(String, String)>,
    /// Lambda Telemetry API subscription; `None` when disabled.
    pub telemetry_api: Option<TelemetryApiConfig>,
}

/// OTLP/HTTP protobuf exporter settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterConfig {
    /// Where and how traces are sent.
    pub traces: SignalExport,
    /// Where and how metrics are sent.
    pub metrics: SignalExport,
    /// Where and how logs are sent.
    pub logs: SignalExport,
    /// Retry policy (every signal).
    pub retry: RetryConfig,
}

/// One signal's export settings: `OTEL_EXPORTER_OTLP_<SIGNAL>_*` over the generic `OTEL_EXPORTER_OTLP_*`
/// over the `exporter` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalExport {
    /// Full URL.
    pub url: String,
    /// Extra headers (validated names and values).
    pub headers: Headers,
    /// gzip the request bodies.
    pub gzip: bool,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

/// Export headers; `Debug` never shows the values (they are usually API keys).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}: <redacted>")))
            .finish()
    }
}

impl Headers {
    /// The header names only, for logs.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// Retry policy for one export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts per export, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each retry, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Backoff ceiling, also applied to `Retry-After`.
    pub max_backoff: Duration,
}

/// How the flush boundary is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// `end` for rarely-called functions, `continuous` for busy ones.
    Adaptive,
    /// Export after every invocation, before `next`.
    End,
    /// Export at the first invocation end after `interval` has passed.
    Periodic,
    /// Export in the background while the function runs, at most every `interval`.
    Continuous,
}

impl FlushMode {
    /// The name used in the config file and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adaptive => "adaptive",
            Self::End => "end",
            Self::Periodic => "periodic",
            Self::Continuous => "continuous",
        }
    }
}

/// When buffered data is exported: the `flush` section, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushConfig {
    /// `flush.mode`: after every invocation, periodically, continuously, or adaptive.
    pub mode: FlushMode,
    /// Minimum time between exports in `periodic`, `continuous` and busy `adaptive`.
    pub interval: Duration,
    /// Mean invocation spacing below which `adaptive` counts the function as busy.
    pub busy_threshold: Duration,
    /// Longest wait, from INVOKE, for the invocation's root span.
    pub completion_timeout: Duration,
    /// Longest an export may hold `next` after the function finished.
    pub max_delay: Duration,
    /// Margin kept before Lambda's SHUTDOWN deadline.
    pub shutdown_margin: Duration,
}

/// The `limits` section, validated: the buffer's cap and the largest request accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cap on buffered (encoded) bytes.
    pub max_buffer_bytes: usize,
    /// Largest accepted request body.
    pub max_request_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_receiver: Some(sidecar_contract::DEFAULT_HTTP_RECEIVER),
            // The receiver with the cargo feature `grpc`; without it, calls there are refused at once
            // (`receiver::grpc_refusal`) so that an SDK exporting gRPC does not retry on every flush.
            grpc_receiver: Some(SocketAddr::from(([127, 0, 0, 1], 4317))),
            exporter: None,
            console: true,
            flush: FlushConfig {
                mode: FlushMode::Adaptive,
                interval: Duration::from_secs(20),
                busy_threshold: Duration::from_secs(60),
                completion_timeout: Duration::from_secs(3),
                max_delay: Duration::from_millis(300),
                shutdown_margin: Duration::from_millis(300),
            },
            limits: Limits {
                max_buffer_bytes: 8 << 20,
                max_request_bytes: 4 << 20,
            },
            resource_attributes: Vec::new(),
            telemetry_api: Some(TelemetryApiConfig::default()),
        }
    }
}
