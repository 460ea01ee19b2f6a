//! `bootstrap`: the Lambda function's entry point (wiring only).

use handler::telemetry::{Telemetry, logging, metrics::Metrics};
use handler::{App, Settings, runtime, s3};
use std::sync::Arc;

fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    runtime::check_environment()?;
    let telemetry = Arc::new(Telemetry::new(&settings.telemetry));
    logging::init(&settings.log, telemetry.tracer_provider())?;
    // Lambda sends one event at a time: a single-threaded runtime starts faster.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let metrics = Metrics::new();
            let lister = s3::bucket_lister(settings.s3_page_size, metrics.clone()).await;
            runtime::run(App::new(lister, metrics.clone()), telemetry, metrics).await
        })
}
