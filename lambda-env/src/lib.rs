//! A Lambda execution environment for tests and the local runner, following AWS's runtime core
//! ("rapid", `aws-lambda-runtime-interface-emulator` `internal/lambda/rapid/`): the Runtime,
//! Extensions and Telemetry APIs over real HTTP on 127.0.0.1, the runtime and extensions as real
//! child processes, Lambda's order (init; `platform.start` → INVOKE → response → the runtime's next
//! `next` → `platform.runtimeDone` → every extension's `next` → `platform.report` → freeze), timeouts
//! and crashes with a reset, and SHUTDOWN with its deadline. docs/sidecar.md ("The Lambda
//! environment the tests run in") lists each rule with its AWS source and every known difference.
//!
//! - [`config`] — what a sandbox runs and with which function settings.
//! - [`sandbox`] — the handle: start, invoke, observe, shut down.
//! - `lifecycle` — init, invoke, reset and freeze in rapid's order.
//! - `shutdown` — SIGTERM/SHUTDOWN/SIGKILL as rapid's `shutdown.go`.
//! - `api` — the HTTP handlers; `state` — who waits in `next`, what was released.
//! - [`telemetry`] — subscriptions, batching and delivery; [`event`] — the events emitted.
//! - `process` — child processes, their output and exits; [`xray`] — trace headers.

mod api;
pub mod config;
mod error;
pub mod event;
mod lifecycle;
mod process;
pub mod sandbox;
mod shutdown;
mod state;
pub mod telemetry;
pub mod xray;

pub use config::{Config, OutputCallback, OutputLine, Process, Runtime};
pub use error::Error;
pub use event::Event;
pub use process::Kind;
pub use sandbox::{Finished, Invocation, Invoke, Outcome, Sandbox};
pub use shutdown::{ProcessEnd, ShutdownReason, ShutdownReport};
pub use state::ReportedError;
pub use telemetry::Delivery;
