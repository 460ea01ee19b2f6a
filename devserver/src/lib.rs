//! `devserver`: the local loop's Lambda. A small API Gateway (HTTP → payload 2.0 event) in front of
//! `lambda-env` (the workspace's Lambda environment, following AWS's rapid), which runs the real
//! `bootstrap` and `otel-sidecar` processes with the Runtime, Extensions and Telemetry APIs, so what
//! you see locally is what Lambda does: extension init before the runtime, one invocation at a time,
//! `platform.runtimeDone` after the runtime's hand-off, the sidecar's post-runtime flush, the freeze
//! between invocations, timeouts, and the SHUTDOWN sequence on Ctrl-C. `./scripts/dev` builds the binaries and starts it with a local S3.
//!
//! - [`args`] — options.
//! - [`sandbox`] — one execution environment (lambda-env + processes, init and shutdown order).
//! - [`invoker`] — serialised invocations (lambda-env resets after a timeout or a crash).
//! - [`apigw`] — HTTP ⇄ API Gateway payload 2.0.
//! - [`gateway`] — the HTTP server (plus the RIE-style invoke path).
//! - [`output`] — children's output, prefixed with their names.

pub mod apigw;
pub mod args;
pub mod gateway;
pub mod invoker;
pub mod output;
pub mod sandbox;
