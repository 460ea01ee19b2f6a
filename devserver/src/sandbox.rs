//! One Lambda execution environment: `lambda-simulator` (Runtime, Extensions and Telemetry APIs)
//! with the function (`bootstrap`) and its external extensions (the `otel-sidecar`) as real
//! processes, started and stopped in Lambda's order.
//!
//! - Init: extensions are spawned first and must register and call `next` before the runtime is
//!   spawned (Lambda's extension init → runtime init); the runtime is ready at its first `next`.
//! - Shutdown: the runtime gets SIGTERM (SIGKILL after 500 ms), then the extensions get `SHUTDOWN`
//!   and [`SHUTDOWN_BUDGET`] to exit, as in Lambda; SIGKILL after that.
//! - Children run in their own process group, so the terminal's Ctrl-C reaches only the runner,
//!   which then shuts them down in that order. Should the runner die without doing so, they lose the
//!   Runtime API and exit on their own.
//! - Each child inherits the runner's environment (so `OTEL_EXPORTER_OTLP_ENDPOINT=… ./scripts/dev`
//!   works), with Lambda's variables (`AWS_LAMBDA_RUNTIME_API`, function name, region, memory) on top.

use crate::output;
use lambda_simulator::{ShutdownReason, Simulator};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What Lambda gives extensions to finish after `SHUTDOWN` (2 s when extensions are registered).
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(2);
/// What Lambda gives the runtime after SIGTERM before SIGKILL.
const RUNTIME_TERM_GRACE: Duration = Duration::from_millis(500);

/// The function's settings (the ones `serverless.yml` deploys, by default).
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub function_name: String,
    pub region: String,
    pub account_id: String,
    pub memory_mb: u32,
    /// The function timeout.
    pub timeout: Duration,
    /// How long init (extensions registered, runtime's first `next`) may take (Lambda: 10 s).
    pub init_timeout: Duration,
    /// The runtime executable (`bootstrap`).
    pub runtime: PathBuf,
    /// External extensions (`/opt/extensions/*` in the image).
    pub extensions: Vec<PathBuf>,
}

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("lambda-simulator: {0}")]
    Simulator(#[from] lambda_simulator::SimulatorError),
    #[error("cannot start {path}: {source}")]
    Spawn {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited during init ({status})")]
    ExitedDuringInit { name: String, status: String },
    #[error("the function reported an init error: {0}")]
    InitError(String),
    #[error("init timed out waiting for {0}")]
    InitTimeout(String),
}

/// A child process and its name (the executable's file name, which is also an extension's name).
pub struct Process {
    pub name: String,
    child: Child,
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn signal(&self, signal: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // ESRCH (already gone) is the only expected failure, and harmless.
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Waits up to `grace` for the process to exit, then kills it. Returns how it ended.
    async fn reap(&mut self, grace: Duration) -> String {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status.to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => format!("killed after {grace:?} ({status})"),
            Err(error) => format!("could not be reaped: {error}"),
        }
    }
}

/// A running execution environment.
pub struct Sandbox {
    simulator: Option<Simulator>,
    pub runtime: Process,
    pub extensions: Vec<Process>,
}

impl Sandbox {
    /// Builds the simulator, starts the extensions, then the runtime, and waits for init to finish.
    pub async fn start(config: &SandboxConfig) -> Result<Sandbox, SandboxError> {
        let started = Instant::now();
        let simulator = Simulator::builder()
            .function_name(&config.function_name)
            .function_version("$LATEST")
            .memory_size_mb(config.memory_mb)
            .region(&config.region)
            .account_id(&config.account_id)
            .invocation_timeout(config.timeout)
            .init_timeout(config.init_timeout)
            .extension_ready_timeout(config.timeout)
            .shutdown_timeout(SHUTDOWN_BUDGET)
            .build()
            .await?;
        let deadline = started + config.init_timeout;
        let (runtime, extensions) = match init(&simulator, config, deadline).await {
            Ok(processes) => processes,
            Err(error) => {
                simulator.shutdown().await;
                return Err(error);
            }
        };
        tracing::info!(
            message = "sandbox ready",
            init_ms = started.elapsed().as_millis() as u64,
            runtime_pid = runtime.pid(),
            extension_pids = ?extensions.iter().map(Process::pid).collect::<Vec<_>>(),
        );
        Ok(Sandbox {
            simulator: Some(simulator),
            runtime,
            extensions,
        })
    }

    /// The simulator (present until [`Sandbox::shutdown`]).
    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }

    /// The name and exit status of the first child that has exited, if any.
    pub fn exited_child(&mut self) -> Option<(String, ExitStatus)> {
        std::iter::once(&mut self.runtime)
            .chain(self.extensions.iter_mut())
            .find_map(|p| p.exited().map(|status| (p.name.clone(), status)))
    }

    /// Lambda's shutdown: SIGTERM to the runtime, `SHUTDOWN` to the extensions, then waits for every
    /// process to exit (killing what outlives its budget). Logs how each one ended.
    pub async fn shutdown(mut self) {
        self.runtime.signal(Signal::SIGTERM);
        let how = self.runtime.reap(RUNTIME_TERM_GRACE).await;
        tracing::info!(message = "stopped", process = %self.runtime.name, pid = self.runtime.pid(), how);
        let deadline = Instant::now() + SHUTDOWN_BUDGET;
        if let Some(simulator) = self.simulator.take() {
            simulator.graceful_shutdown(ShutdownReason::Spindown).await;
        }
        for extension in &mut self.extensions {
            let grace = deadline.saturating_duration_since(Instant::now());
            let how = extension.reap(grace).await;
            tracing::info!(message = "stopped", process = %extension.name, pid = extension.pid(), how);
        }
    }
}

impl Drop for Process {
    /// No child outlives its sandbox, whatever path the runner takes out (error, panic).
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Lambda's init order: every extension registered and waiting in `next`, then the runtime up to its
/// first `next`. Processes started before a failure are killed when dropped.
async fn init(
    simulator: &Simulator,
    config: &SandboxConfig,
    deadline: Instant,
) -> Result<(Process, Vec<Process>), SandboxError> {
    let env = simulator.lambda_env_vars();
    let mut extensions = Vec::new();
    for path in &config.extensions {
        extensions.push(spawn(path, &env)?);
    }
    wait_for_extensions(simulator, &mut extensions, deadline).await?;
    let mut runtime = spawn(&config.runtime, &env)?;
    wait_for_runtime(simulator, &mut runtime, &mut extensions, deadline).await?;
    Ok((runtime, extensions))
}

async fn wait_for_extensions(
    simulator: &Simulator,
    extensions: &mut [Process],
    deadline: Instant,
) -> Result<(), SandboxError> {
    loop {
        let mut ready = 0;
        for extension in simulator.get_registered_extensions().await {
            if simulator.first_next_poll_at(&extension.id).await.is_some() {
                ready += 1;
            }
        }
        if ready >= extensions.len() {
            return Ok(());
        }
        if let Some(i) = extensions.iter_mut().position(|p| p.exited().is_some()) {
            return Err(exited_during_init(&mut extensions[i]));
        }
        if Instant::now() >= deadline {
            return Err(SandboxError::InitTimeout(format!(
                "{} extension(s) to register and call next",
                extensions.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_for_runtime(
    simulator: &Simulator,
    runtime: &mut Process,
    extensions: &mut [Process],
    deadline: Instant,
) -> Result<(), SandboxError> {
    loop {
        if let Some(error) = simulator.get_init_error().await {
            return Err(SandboxError::InitError(error));
        }
        if simulator.is_initialized().await {
            return Ok(());
        }
        if runtime.exited().is_some() {
            return Err(exited_during_init(runtime));
        }
        if let Some(i) = extensions.iter_mut().position(|p| p.exited().is_some()) {
            return Err(exited_during_init(&mut extensions[i]));
        }
        if Instant::now() >= deadline {
            return Err(SandboxError::InitTimeout(
                "the function's first call to next".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn exited_during_init(process: &mut Process) -> SandboxError {
    SandboxError::ExitedDuringInit {
        name: process.name.clone(),
        status: process
            .exited()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown status".into()),
    }
}

/// Starts `path` in its own process group with Lambda's environment, its output relayed.
fn spawn(
    path: &std::path::Path,
    lambda_env: &std::collections::HashMap<String, String>,
) -> Result<Process, SandboxError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let spawn_error = |source| SandboxError::Spawn {
        path: path.display().to_string(),
        source,
    };
    let mut child = Command::new(path)
        .envs(lambda_env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(spawn_error)?;
    if let Some(stdout) = child.stdout.take() {
        output::relay(&name, stdout).map_err(spawn_error)?;
    }
    if let Some(stderr) = child.stderr.take() {
        output::relay(&name, stderr).map_err(spawn_error)?;
    }
    tracing::info!(message = "started", process = %name, pid = child.id());
    Ok(Process { name, child })
}
