//! Lambda's Telemetry API: subscribe during init, receive batches on the sandbox address, and turn
//! platform events into spans in the function's traces, `faas.*` metrics, and the function's and
//! extensions' log lines into OTLP log records. Everything lands in the same buffer as the function's
//! OTLP data and leaves with the same flushes.
//!
//! Where there is no Telemetry API (the Runtime Interface Emulator used by `docker run`, `cargo lambda
//! watch`), the subscription fails once, is logged once, and the sidecar carries on with OTLP only.

/// The Telemetry API fixture `$name` from `tests/fixtures/telemetry/`, for the unit tests below.
#[cfg(test)]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/telemetry/",
            $name
        ))
    };
}

pub mod cold_start;
pub mod events;
pub mod invocation;
pub mod listener;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod parse;
pub mod spans;
pub mod subscribe;
pub mod translate;
pub mod xray;

use crate::config::{Config, TelemetryApiConfig};
use crate::receiver::{self, BindError, Ingest, Protocol};
use listener::Shared;
use metrics::FaasMetrics;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use translate::Translator;

/// The streams worth subscribing to for this configuration. Log lines only matter when they can leave
/// the sandbox (a remote exporter): otherwise they are in CloudWatch Logs already. And with the console
/// exporter on, the `extension` stream would carry the console's own output back in, a loop.
pub fn effective_streams(
    configured: &[&'static str],
    remote_exporter: bool,
    console: bool,
) -> Vec<&'static str> {
    configured
        .iter()
        .copied()
        .filter(|stream| match *stream {
            "function" => remote_exporter,
            "extension" => remote_exporter && !console,
            _ => true,
        })
        .collect()
}

/// The Telemetry API side, once its listener is bound.
#[derive(Debug, Clone)]
pub struct TelemetryApi {
    config: TelemetryApiConfig,
    shared: Arc<Shared>,
    metrics: Arc<FaasMetrics>,
    local: SocketAddr,
}

impl TelemetryApi {
    /// The Telemetry API side for `config`, listening, or `None` when disabled, when no stream is worth
    /// subscribing to (see [`effective_streams`]) or when the port is taken (logged).
    pub fn start(config: &Config, ingest: Ingest) -> Option<TelemetryApi> {
        let mut telemetry = config.telemetry_api.clone()?;
        telemetry.types =
            effective_streams(&telemetry.types, config.exporter.is_some(), config.console);
        if telemetry.types.is_empty() {
            return None;
        }
        Self::listen(&telemetry, ingest)
            .map_err(|error| tracing::error!(message = "Telemetry API listener disabled", %error))
            .ok()
    }

    /// Binds the listener (before subscribing: Lambda may deliver at once); what it translates goes
    /// into the buffer through `ingest`.
    pub fn listen(config: &TelemetryApiConfig, ingest: Ingest) -> Result<Self, BindError> {
        let metrics = Arc::new(FaasMetrics::new(config.faas_trigger));
        let translator = Translator::new(metrics.clone(), config.faas_trigger);
        let shared = Arc::new(Shared::new(translator, ingest, metrics.clone()));
        let local = receiver::serve(
            config.listener,
            listener::router(shared.clone()),
            Protocol::Http1,
        )?;
        Ok(Self {
            config: config.clone(),
            shared,
            metrics,
            local,
        })
    }

    /// Subscribes; logs the outcome once. Returns whether events will come.
    pub async fn subscribe(&self, extension_id: &str) -> bool {
        match subscribe::subscribe(&self.config, self.local.port(), extension_id).await {
            Ok(()) => {
                tracing::info!(
                    message = "subscribed to the Telemetry API",
                    types = ?self.config.types,
                    buffering_timeout_ms = self.config.buffer_timeout.as_millis() as u64,
                    listener = %self.local
                );
                true
            }
            Err(error @ subscribe::SubscribeError::Unavailable(_)) => {
                tracing::info!(message = "no Telemetry API: continuing with OTLP only", reason = %error);
                false
            }
            Err(error) => {
                tracing::warn!(message = "Telemetry API subscription failed: continuing with OTLP only", %error);
                false
            }
        }
    }

    /// The `faas.*` aggregates, for the flusher's snapshots.
    pub fn metrics(&self) -> Arc<FaasMetrics> {
        self.metrics.clone()
    }

    /// At SHUTDOWN: waits (until `until`, at most one buffering period plus a margin) for the reports of
    /// open invocations, then emits everything still open.
    pub async fn settle_and_drain(&self, until: Instant) {
        let bound =
            (Instant::now() + self.config.buffer_timeout + Duration::from_millis(500)).min(until);
        self.shared
            .delivered
            .wait_for(bound, || self.shared.open_invocations() == 0)
            .await;
        let open = self.shared.open_invocations();
        if open > 0 {
            tracing::info!(
                message = "shutdown: invocations without a platform.report emitted as they are",
                open
            );
        }
        self.shared.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::completion::Completions;
    use crate::pipeline::{SharedBuffer, Signal};

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_the_open_invocations_report_then_for_one_period_at_most() {
        let config = TelemetryApiConfig {
            listener: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..TelemetryApiConfig::default()
        };
        let buffer = SharedBuffer::new(1 << 20);
        let ingest = Ingest::new(buffer.clone(), Arc::new(Completions::default()));
        let telemetry = TelemetryApi::listen(&config, ingest).unwrap();
        let shared = telemetry.shared.clone();
        shared
            .accept(fixture!("platform.start.json").as_bytes())
            .unwrap();
        shared
            .accept(fixture!("platform.runtimeDone.json").as_bytes())
            .unwrap();
        assert_eq!(shared.open_invocations(), 1);
        let lambda = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            shared
                .accept(fixture!("platform.report.json").as_bytes())
                .unwrap();
        });
        let started = Instant::now();
        telemetry
            .settle_and_drain(started + Duration::from_secs(2))
            .await;
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(40),
            "ends when the report arrives"
        );
        lambda.await.unwrap();
        let buffered = |buffer: &SharedBuffer| -> Vec<Signal> {
            buffer.lock().drain().iter().map(|e| e.signal).collect()
        };
        assert_eq!(buffered(&buffer), [Signal::Traces]);

        // No report: one buffering period plus the margin, then the invocation is emitted as it is.
        telemetry
            .shared
            .accept(
                fixture!("platform.start.json")
                    .replace("6d68", "7e79")
                    .as_bytes(),
            )
            .unwrap();
        let started = Instant::now();
        telemetry
            .settle_and_drain(started + Duration::from_secs(2))
            .await;
        assert_eq!(started.elapsed(), Duration::from_millis(525));
        assert_eq!(telemetry.shared.open_invocations(), 0);
        assert_eq!(buffered(&buffer), [Signal::Traces]);
    }

    #[test]
    fn log_streams_only_when_they_can_leave_and_never_the_consoles_own_output() {
        let all = crate::config::STREAMS;
        assert_eq!(effective_streams(&all, true, false), all);
        assert_eq!(effective_streams(&all, false, true), ["platform"]);
        assert_eq!(
            effective_streams(&all, true, true),
            ["platform", "function"],
            "console output would come back through the extension stream"
        );
        assert_eq!(
            effective_streams(&["function"], false, false),
            Vec::<&str>::new()
        );
    }
}
