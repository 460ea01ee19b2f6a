//! Stopping an environment as rapid's `internal/lambda/rapid/shutdown.go` `shutdown` does, for
//! SHUTDOWN and for the reset after a timeout or failure (`handlers.go` `handleReset`,
//! `handleShutdown`):
//! - no extension registered: SIGKILL the runtime at once;
//! - else SIGTERM the runtime and give it 30 % of the budget (`runtimeDeadlineShare`), then SIGKILL;
//!   then the SHUTDOWN event (`deadlineMs`, `shutdownReason`) to every extension subscribed to it and
//!   SIGKILL for the others; wait for the subscribed ones to exit up to the deadline, SIGKILL then
//!   (`shutdownAgents`, standalone mode);
//! - finally wait up to 2 s for every process to be gone (`clearExitedChannel`, `maxProcessExitWait`).

use crate::lifecycle::Inner;
use crate::process::{Child, Kind, OUTPUT_DRAIN};
use nix::sys::signal::Signal;
use serde_json::json;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// rapid `runtimeDeadlineShare`.
const RUNTIME_DEADLINE_SHARE: f64 = 0.3;
/// rapid `maxProcessExitWait`.
const MAX_PROCESS_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Why the environment goes away (the SHUTDOWN event's `shutdownReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Lambda retires an idle environment ([`crate::Sandbox::shutdown`]'s usual reason).
    Spindown,
    /// The reset after an invocation ran past [`crate::Config::timeout`].
    Timeout,
    /// The reset after a process died or init failed.
    Failure,
}

impl ShutdownReason {
    /// The `shutdownReason` value of the SHUTDOWN event.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownReason::Spindown => "spindown",
            ShutdownReason::Timeout => "timeout",
            ShutdownReason::Failure => "failure",
        }
    }
}

/// How one process ended.
#[derive(Clone, Debug)]
pub struct ProcessEnd {
    /// The process's name (see [`crate::Process::process_name`]).
    pub name: String,
    /// Runtime or extension.
    pub kind: Kind,
    /// Its pid (also its process group).
    pub pid: u32,
    /// None if it could not be reaped within rapid's 2 s wait.
    pub status: Option<ExitStatus>,
    /// When it ended, counted from the start of the shutdown.
    pub after: Option<Duration>,
    /// The sandbox had to SIGKILL it.
    pub killed: bool,
}

/// What a shutdown or reset did.
#[derive(Clone, Debug)]
pub struct ShutdownReport {
    /// Why the environment was stopped.
    pub reason: ShutdownReason,
    /// The SHUTDOWN event's deadline, from the start of the shutdown.
    pub budget: Duration,
    /// Every process the environment had.
    pub processes: Vec<ProcessEnd>,
}

impl ShutdownReport {
    /// How the process named `name` ended, if it was part of the environment.
    pub fn process(&self, name: &str) -> Option<&ProcessEnd> {
        self.processes.iter().find(|p| p.name == name)
    }
}

/// Stops `processes` (the current environment's) for `reason`.
pub(crate) async fn stop(
    inner: &Inner,
    processes: Vec<Arc<Child>>,
    reason: ShutdownReason,
) -> ShutdownReport {
    let start = Instant::now();
    let budget = inner.config.shutdown_budget;
    let deadline = start + budget;
    let shared = &inner.shared;
    let extensions = shared.update(|s| {
        s.shutting_down = true;
        s.registration_open = false;
        s.extensions
            .iter()
            .map(|e| (e.name.clone(), e.events.iter().any(|ev| ev == "SHUTDOWN")))
            .collect::<Vec<_>>()
    });
    // Thawed first (the processes were taken from the environment already).
    inner.mark_thawed();
    for process in &processes {
        process.signal(Signal::SIGCONT);
    }
    // Hand what is batched to the subscribers before they are told to go (lambda-env's choice:
    // see docs/sidecar.md).
    shared.telemetry.flush(start + budget / 4).await;
    let mut killed = Vec::new();
    let runtime = processes.iter().find(|p| p.kind == Kind::Runtime);
    if extensions.is_empty() {
        if let Some(runtime) = runtime {
            runtime.signal(Signal::SIGKILL);
            killed.push(runtime.pid);
        }
    } else {
        // shutdownRuntime: SIGTERM, SIGKILL at the runtime's share of the deadline.
        if let Some(runtime) = runtime {
            runtime.signal(Signal::SIGTERM);
            let runtime_deadline = start + budget.mul_f64(RUNTIME_DEADLINE_SHARE);
            if !runtime.wait_exit(runtime_deadline).await {
                runtime.signal(Signal::SIGKILL);
                killed.push(runtime.pid);
            }
        }
        // shutdownAgents: SHUTDOWN to the subscribed, SIGKILL to the rest.
        let deadline_ms = shared.clock.unix_ms(deadline);
        shared.update(|s| {
            for extension in &mut s.extensions {
                if extension.events.iter().any(|e| e == "SHUTDOWN") {
                    extension.party.release(json!({
                        "eventType": "SHUTDOWN",
                        "deadlineMs": deadline_ms,
                        "shutdownReason": reason.as_str(),
                    }));
                }
            }
        });
        let mut waits = Vec::new();
        for process in processes.iter().filter(|p| p.kind == Kind::Extension) {
            let subscribed = extensions
                .iter()
                .any(|(name, shutdown)| *shutdown && *name == process.name);
            if subscribed {
                waits.push(process.clone());
            } else {
                process.signal(Signal::SIGKILL);
                killed.push(process.pid);
            }
        }
        for process in waits {
            if !process.wait_exit(deadline).await {
                process.signal(Signal::SIGKILL);
                killed.push(process.pid);
            }
        }
    }
    // clearExitedChannel: every process gone, within 2 s.
    let reaped_by = Instant::now() + MAX_PROCESS_EXIT_WAIT;
    for process in &processes {
        if !process.wait_exit(reaped_by).await {
            tracing::warn!(message = "process did not exit", process = %process.name, pid = process.pid);
        }
    }
    // The report is read with the processes' output (a sidecar's shutdown summary is its last line):
    // every line they wrote is recorded before it is returned.
    for process in &processes {
        process.wait_drained(Instant::now() + OUTPUT_DRAIN).await;
    }
    shared.update(|s| s.shutting_down = false);
    ShutdownReport {
        reason,
        budget,
        processes: processes
            .iter()
            .map(|p| {
                let exit = p.exited();
                ProcessEnd {
                    name: p.name.clone(),
                    kind: p.kind,
                    pid: p.pid,
                    status: exit.map(|(status, _)| status),
                    after: exit.map(|(_, at)| at.saturating_duration_since(start)),
                    killed: killed.contains(&p.pid),
                }
            })
            .collect(),
    }
}
