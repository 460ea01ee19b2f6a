//! The Extensions API side: registration (for INVOKE and SHUTDOWN, with the `accountId` feature) and the
//! event loop, which hands each event to the lifecycle controller and only returns to `next` once the
//! controller is done with it. Unlike `lambda_extension`'s own run loop, this one ends after SHUTDOWN.
//!
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html>

use crate::lifecycle::controller::Controller;
use crate::pipeline::resource::LambdaFacts;
use crate::telemetry::TelemetryApi;
use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
use tokio::sync::{mpsc, oneshot};

/// Errors of the Extensions API side.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// Not running under Lambda (or an emulator): nothing to register with.
    #[error("AWS_LAMBDA_RUNTIME_API is {0}; the sidecar only runs as a Lambda extension")]
    NoRuntimeApi(&'static str),
    /// The Extensions API refused or failed.
    #[error("extension registration failed: {0}")]
    Register(String),
    /// The event loop failed (the Extensions API went away).
    #[error("extension event loop failed: {0}")]
    Loop(String),
}

type Job = (NextEvent, oneshot::Sender<()>);

/// Checks that the Extensions API address is usable (the client library panics otherwise).
pub fn check_runtime_api(value: Option<String>) -> Result<(), LambdaError> {
    let value = value.ok_or(LambdaError::NoRuntimeApi("not set"))?;
    match http::Uri::try_from(value.as_str()) {
        Ok(uri) if uri.authority().is_some() => Ok(()),
        _ => Err(LambdaError::NoRuntimeApi("not a host:port")),
    }
}

/// Registers, subscribes `telemetry` to the Telemetry API (still during init), then runs the controller
/// until SHUTDOWN has been handled. `make_controller` receives what Lambda said about the function (the
/// register response completed from the environment, which `env` reads: [`LambdaFacts::detect`]) and the
/// Telemetry API side if the subscription succeeded; it is called once.
pub async fn run(
    extension_name: &str,
    telemetry: Option<TelemetryApi>,
    env: impl Fn(&str) -> Option<String>,
    make_controller: impl FnOnce(&LambdaFacts, Option<TelemetryApi>) -> Controller,
) -> Result<(), LambdaError> {
    let (jobs, mut inbox) = mpsc::channel::<Job>(1);
    let processor = service_fn(move |event: LambdaEvent| {
        let jobs = jobs.clone();
        async move {
            let (ack, done) = oneshot::channel();
            // If the controller is gone (after SHUTDOWN), there is nothing to wait for.
            if jobs.send((event.next, ack)).await.is_ok() {
                let _ = done.await;
            }
            Ok::<(), lambda_extension::Error>(())
        }
    });
    let registered = Extension::new()
        .with_extension_name(extension_name)
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(processor)
        .register()
        .await
        .map_err(|e| LambdaError::Register(e.to_string()))?;
    let facts = LambdaFacts::detect(
        &registered.function_name,
        &registered.function_version,
        registered.account_id.clone(),
        env,
    );
    let telemetry = match telemetry {
        Some(telemetry) if telemetry.subscribe(&registered.extension_id).await => Some(telemetry),
        _ => None,
    };
    let mut controller = make_controller(&facts, telemetry);
    tracing::info!(message = "registered", extension = extension_name, function = %registered.function_name);

    let controller_task = async move {
        while let Some((event, ack)) = inbox.recv().await {
            match event {
                NextEvent::Invoke(invoke) => {
                    controller
                        .on_invoke(&invoke.request_id, invoke.deadline_ms)
                        .await;
                    let _ = ack.send(());
                }
                NextEvent::Shutdown(shutdown) => {
                    controller
                        .on_shutdown(&shutdown.shutdown_reason, shutdown.deadline_ms)
                        .await;
                    let _ = ack.send(());
                    return;
                }
            }
        }
    };
    tokio::select! {
        biased;
        // The controller returns after SHUTDOWN: exit without polling `next` again.
        () = controller_task => Ok(()),
        result = registered.run() => result.map_err(|e| LambdaError::Loop(e.to_string())),
    }
}
