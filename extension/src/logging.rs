//! The sidecar's own logs: structured `key = value` events on stderr, JSON inside Lambda (one object per
//! line, CloudWatch-friendly), compact text elsewhere. Level from `OTEL_SIDECAR_LOG_LEVEL` (default `info`).

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber. `env` is the environment lookup.
pub fn init(env: &dyn Fn(&str) -> Option<String>) {
    let level = match env("OTEL_SIDECAR_LOG_LEVEL")
        .map(|l| l.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("trace") => LevelFilter::TRACE,
        Some("debug") => LevelFilter::DEBUG,
        Some("warn") => LevelFilter::WARN,
        Some("error") => LevelFilter::ERROR,
        Some("off") => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    };
    // Our own events at the chosen level; dependencies (hyper, reqwest...) only when they warn.
    let filter = Targets::new()
        .with_target("extension", level)
        .with_target("otel_sidecar", level)
        .with_default(LevelFilter::WARN.min(level));
    let json = env("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && env("OTEL_SIDECAR_LOG_FORMAT").as_deref() != Some("text");
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        tracing_subscriber::registry()
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(filter),
            )
            .init();
    } else {
        tracing_subscriber::registry()
            .with(layer.compact().with_ansi(false).with_filter(filter))
            .init();
    }
}
