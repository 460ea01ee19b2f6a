//! `otel-sidecar`: wiring only. Loads the config, starts the receivers, registers with the Extensions API
//! and runs the lifecycle until SHUTDOWN. Nothing here may stop the function from working: bad config and
//! unusable ports degrade telemetry (loudly), they never fail the extension's init.

use extension::config::{self, Config};
use extension::exporter::{Exporters, otlp::OtlpExporter};
use extension::lifecycle::{completion::Completions, controller::Controller, flusher::Flusher};
use extension::pipeline::resource::Enricher;
use extension::pipeline::{SharedBuffer, stats::Stats};
use extension::receiver::{self, Ingest};
use extension::telemetry::TelemetryApi;
use extension::{lambda, logging};
use std::process::ExitCode;
use std::sync::Arc;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn main() -> ExitCode {
    logging::init(&env);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(message = "cannot start the async runtime", %error);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(message = "otel-sidecar stopped", error = %error);
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda::LambdaError> {
    lambda::check_runtime_api(env("AWS_LAMBDA_RUNTIME_API"))?;
    let config = load_config();
    let stats = Arc::new(Stats::new());
    let buffer = SharedBuffer::new(config.limits.max_buffer_bytes);
    let completions = Arc::new(Completions::default());
    let ingest = Ingest::new(buffer.clone(), completions.clone());
    start_receivers(&config, ingest.clone());
    let telemetry = TelemetryApi::start(&config, ingest);

    let otlp = config
        .exporter
        .clone()
        .map(|exporter| OtlpExporter::new(exporter, stats.clone()));
    let exporters = Arc::new(Exporters::new(
        otlp,
        config.console,
        stats.clone(),
        config.limits.max_request_bytes,
    ));
    let name = std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "otel-sidecar".to_owned());
    lambda::run(&name, telemetry, env, |facts, telemetry| {
        let enricher = Arc::new(Enricher::new(facts, &config.resource_attributes));
        let flusher = Flusher::new(buffer, exporters, enricher, stats.clone());
        let controller = Controller::new(config.flush, flusher, completions, stats);
        match telemetry {
            Some(telemetry) => controller.with_telemetry(telemetry),
            None => controller,
        }
    })
    .await
}

fn load_config() -> Config {
    let loaded = config::load(&env);
    for warning in &loaded.warnings {
        tracing::warn!(message = "configuration variable ignored", detail = %warning);
    }
    if let Some(error) = &loaded.error {
        tracing::error!(message = "invalid configuration; running with the defaults (console output only)", error = %error);
    }
    let config = loaded.config;
    tracing::info!(
        message = "configuration",
        file = loaded.path.as_deref().unwrap_or("(none)"),
        flush_mode = config.flush.mode.as_str(),
        exporter = config.exporter.as_ref().map(|e| e.traces.url.as_str()).unwrap_or("(console)"),
        headers = ?config.exporter.as_ref().map(|e| e.traces.headers.names()).unwrap_or_default(),
        max_buffer_bytes = config.limits.max_buffer_bytes
    );
    config
}

fn start_receivers(config: &Config, ingest: Ingest) {
    let max = config.limits.max_request_bytes;
    if let Some(addr) = config.http_receiver {
        match receiver::serve(
            addr,
            receiver::http::router(ingest.clone(), max, config.flush.completion_timeout),
            receiver::Protocol::Http1,
        ) {
            Ok(local) => tracing::info!(message = "OTLP/HTTP receiver listening", addr = %local),
            Err(error) => tracing::error!(message = "OTLP/HTTP receiver disabled", %error),
        }
    }
    #[cfg(feature = "grpc")]
    if let Some(addr) = config.grpc_receiver {
        match receiver::serve(
            addr,
            receiver::grpc::router(ingest, max),
            receiver::Protocol::Http2,
        ) {
            Ok(local) => tracing::info!(message = "OTLP/gRPC receiver listening", addr = %local),
            Err(error) => tracing::error!(message = "OTLP/gRPC receiver disabled", %error),
        }
    }
    #[cfg(not(feature = "grpc"))]
    if let Some(addr) = config.grpc_receiver {
        match receiver::grpc_refusal::serve(addr) {
            Ok(local) => {
                tracing::debug!(message = "OTLP/gRPC not built in: refusing calls", addr = %local)
            }
            Err(error) => tracing::debug!(message = "OTLP/gRPC refusal disabled", %error),
        }
    }
}
