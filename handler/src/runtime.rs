//! Running the app as a Lambda runtime: the service stack, the SIGTERM flush, and the check of
//! the environment variables Lambda always sets (the runtime library panics without them).

use crate::buckets::BucketLister;
use crate::routes::App;
use crate::telemetry::Telemetry;
use crate::telemetry::handoff::{HandOffLayer, UnsampledNote};
use crate::telemetry::invocation::InvocationSpanLayer;
use crate::telemetry::metrics::Metrics;
use lambda_http::lambda_runtime::{Runtime, layers::TracingLayer};
use lambda_http::{Adapter, Error, Request, service_fn};
use std::convert::Infallible;
use std::sync::Arc;
use tower::ServiceBuilder;

/// Variables the Lambda runtime library requires.
const RUNTIME_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// The process was not started by a Lambda runtime environment.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} is not set: this binary is a Lambda runtime; run it under Lambda, the Runtime Interface Emulator or `cargo lambda watch`"
)]
pub struct NotInLambda(&'static str);

/// Checks that Lambda's runtime variables are present.
pub fn check_environment() -> Result<(), NotInLambda> {
    match RUNTIME_VARIABLES
        .iter()
        .find(|name| std::env::var_os(name).is_none())
    {
        Some(missing) => Err(NotInLambda(missing)),
        None => Ok(()),
    }
}

/// Serves invocations until Lambda stops the process.
pub async fn run<L: BucketLister>(
    app: App<L>,
    telemetry: Arc<Telemetry>,
    metrics: Metrics,
) -> Result<(), Error> {
    flush_on_sigterm(telemetry.clone());
    // The invocation layer decides sampling; the hand-off layer, outside the runtime's own layers, needs it.
    let unsampled = UnsampledNote::default();
    let service = ServiceBuilder::new()
        .layer(InvocationSpanLayer::new(metrics, unsampled.clone()))
        .service(service_fn(move |request: Request| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(request).await) }
        }));
    Runtime::new(Adapter::from(service))
        .layer(TracingLayer::new())
        .layer(HandOffLayer::new(telemetry, unsampled))
        .run()
        .await
}

/// Lambda sends SIGTERM to the runtime when the sandbox shuts down (if extensions are
/// registered): flush what is left, then exit.
fn flush_on_sigterm(telemetry: Arc<Telemetry>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => {
            tokio::spawn(async move {
                sigterm.recv().await;
                tracing::info!("SIGTERM: flushing telemetry before exit");
                telemetry.shutdown().await;
                std::process::exit(0);
            });
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; telemetry of the last invocation may be lost at shutdown")
        }
    }
}
