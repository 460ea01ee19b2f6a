//! One Lambda execution environment: `lambda-env` (the workspace's Lambda environment: Runtime,
//! Extensions and Telemetry APIs in rapid's order) with the function (`bootstrap`) and its external
//! extensions (the `otel-sidecar`) as real processes.
//!
//! - Init: extensions start first and register before the runtime starts; init ends when the
//!   runtime and every extension wait in `next`. Between invocations the processes are frozen
//!   (SIGSTOP), as Lambda freezes the sandbox.
//! - Timeouts and crashes: the environment is reset (SHUTDOWN with reason timeout / failure) and
//!   the next invocation runs init again (a cold start).
//! - Shutdown: the runtime gets SIGTERM (SIGKILL at 30 % of the budget), then the extensions get
//!   `SHUTDOWN` and the rest of [`SHUTDOWN_BUDGET`] to exit; SIGKILL after that.
//! - Children run in their own process groups, so the terminal's Ctrl-C reaches only the runner,
//!   which then shuts them down in that order. Should the runner die without doing so, they lose the
//!   Runtime API and exit on their own.
//! - Each child inherits the runner's environment (so `OTEL_EXPORTER_OTLP_ENDPOINT=… ./scripts/dev`
//!   works), with Lambda's variables (`AWS_LAMBDA_RUNTIME_API`, function name, region, memory) on top.

use crate::output;
use lambda_env::{Config, Process, ShutdownReason};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What Lambda gives the runtime and extensions to finish after `SHUTDOWN` (2 s with extensions).
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(2);

/// The function's settings (the ones `serverless.yml` deploys, by default).
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME` (and the log group name) the processes see.
    pub function_name: String,
    /// `AWS_REGION` the processes see.
    pub region: String,
    /// The account in the function's ARN.
    pub account_id: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB (not enforced).
    pub memory_mb: u32,
    /// How long one invocation may run, runtime and extensions together; past it the environment
    /// is reset.
    pub timeout: Duration,
    /// How long init (extensions registered, runtime's first `next`) may take (Lambda: 10 s).
    pub init_timeout: Duration,
    /// The runtime executable (`bootstrap`).
    pub runtime: PathBuf,
    /// External extensions (`/opt/extensions/*` in the image).
    pub extensions: Vec<PathBuf>,
}

/// Why a sandbox could not start.
pub type SandboxError = lambda_env::Error;

/// A running execution environment.
pub struct Sandbox {
    env: lambda_env::Sandbox,
}

impl Sandbox {
    /// Starts the extensions, then the runtime, and waits for init to finish.
    pub async fn start(config: &SandboxConfig) -> Result<Sandbox, SandboxError> {
        let env = lambda_env::Sandbox::start(Config {
            function_name: config.function_name.clone(),
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            memory_mb: config.memory_mb,
            timeout: config.timeout,
            init_timeout: config.init_timeout,
            shutdown_budget: SHUTDOWN_BUDGET,
            extensions: config.extensions.iter().map(Process::new).collect(),
            on_output: Some(Arc::new(output::print)),
            ..Config::default().runtime(Process::new(&config.runtime))
        })
        .await?;
        tracing::info!(message = "sandbox ready", processes = ?env.pids());
        Ok(Sandbox { env })
    }

    /// The lambda-env sandbox underneath (its events, output and processes).
    pub fn env(&self) -> &lambda_env::Sandbox {
        &self.env
    }

    /// Lambda's shutdown; logs how each process ended.
    pub async fn shutdown(&self) {
        let report = self.env.shutdown(ShutdownReason::Spindown).await;
        for process in report.processes {
            let how = match (process.status, process.killed) {
                (Some(status), false) => status.to_string(),
                (Some(status), true) => format!("killed at the deadline ({status})"),
                (None, _) => "could not be reaped".into(),
            };
            tracing::info!(
                message = "stopped",
                process = %process.name,
                pid = process.pid,
                after_ms = process.after.map(|d| d.as_millis() as u64),
                how
            );
        }
    }
}
