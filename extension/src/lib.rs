//! otel-sidecar: an external Lambda extension that receives OTLP from the function, buffers it within a
//! memory bound and exports it at the moments the Lambda lifecycle allows, without loss and without
//! adding latency. See `docs/sidecar.md` for the user documentation.

pub mod config;
pub mod exporter;
pub mod lambda;
pub mod lifecycle;
pub mod logging;
pub mod pipeline;
pub mod receiver;
pub mod telemetry;
