//! The sandbox's child processes: started in their own process group (so SIGSTOP/SIGCONT/SIGKILL
//! reach everything they start, as Lambda freezes the whole sandbox), their output turned into
//! `function`/`extension` Telemetry API records line by line (rapid hands runtime and extension
//! output to `logsEgressAPI` in `doRuntimeDomainInit`/`doInitExtensions`), their exits recorded.

use crate::config::{Config, OutputLine, Process};
use crate::error::Error;
use crate::state::Shared;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::sync::watch;

/// Runtime or extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The function's runtime (`bootstrap`); its output is the `function` stream.
    Runtime,
    /// An external extension; its output is the `extension` stream.
    Extension,
}

impl Kind {
    /// The Telemetry API stream of its output.
    pub fn stream(self) -> &'static str {
        match self {
            Kind::Runtime => "function",
            Kind::Extension => "extension",
        }
    }
}

/// A started process.
pub(crate) struct Child {
    pub name: String,
    pub kind: Kind,
    pub pid: u32,
    pub exit: watch::Receiver<Option<(ExitStatus, Instant)>>,
    /// True once its output has been read to the end (after it exited), so that every line it wrote
    /// is recorded.
    pub drained: watch::Receiver<bool>,
}

impl Child {
    pub fn exited(&self) -> Option<(ExitStatus, Instant)> {
        *self.exit.borrow()
    }

    /// Signals its process group (nothing if it has exited: its pid may be reused).
    pub fn signal(&self, signal: Signal) {
        if self.exited().is_none()
            && let Ok(pid) = i32::try_from(self.pid)
        {
            // ESRCH (gone meanwhile) is the only expected failure, and harmless.
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }

    /// Waits until its output is recorded to the end (it has exited and its pipes closed) or `deadline`.
    pub async fn wait_drained(&self, deadline: Instant) {
        let mut drained = self.drained.clone();
        let _ = tokio::time::timeout_at(deadline.into(), drained.wait_for(|d| *d)).await;
    }

    /// Waits until it exits or `deadline`; whether it did.
    pub async fn wait_exit(&self, deadline: Instant) -> bool {
        let mut exit = self.exit.clone();
        tokio::time::timeout_at(deadline.into(), exit.wait_for(Option::is_some))
            .await
            .is_ok()
    }

    /// Stopped (SIGSTOP took effect) or gone, per `/proc/PID/stat`.
    pub fn is_stopped(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return true;
        };
        // The state is the field after the parenthesised command name.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        matches!(state, Some("T" | "t" | "Z" | "X") | None)
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse().ok())
            })
            .unwrap_or(0)
    }
}

/// Starts `spec` with Lambda's environment.
pub(crate) fn spawn(
    spec: &Process,
    kind: Kind,
    config: &Config,
    lambda_env: &[(String, String)],
    shared: &Arc<Shared>,
) -> Result<Child, Error> {
    let name = spec.process_name();
    let mut command = tokio::process::Command::new(&spec.path);
    if !config.inherit_env {
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
    }
    command
        .args(&spec.args)
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .envs(lambda_env.iter().map(|(k, v)| (k, v)))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        path: spec.path.display().to_string(),
        source,
    })?;
    let pid = child.id().unwrap_or_default();
    let relays: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|output| {
        tokio::spawn(relay(
            output,
            name.clone(),
            kind,
            config.clone(),
            shared.clone(),
        ))
    })
    .collect();
    let (tx, exit) = watch::channel(None);
    let (drained_tx, drained) = watch::channel(false);
    let watcher_shared = shared.clone();
    let watcher_name = name.clone();
    tokio::spawn(async move {
        if let Ok(status) = child.wait().await {
            let at = Instant::now();
            watcher_shared.update(|s| s.exits.push((watcher_name, pid, status.to_string())));
            let _ = tx.send(Some((status, at)));
            // Its last lines may still be in the pipes: reported separately, so that the lifecycle acts
            // on the exit at once. Bounded: a grandchild that inherited the pipes may keep them open.
            let _ = tokio::time::timeout(OUTPUT_DRAIN, join_relays(relays)).await;
            let _ = drained_tx.send(true);
        }
    });
    tracing::info!(message = "started", process = %name, pid);
    Ok(Child {
        name,
        kind,
        pid,
        exit,
        drained,
    })
}

/// How long an exited process's output may take to reach end of file before its exit is reported.
pub(crate) const OUTPUT_DRAIN: Duration = Duration::from_millis(500);

/// Awaits every relay task (a failed one has nothing more to record).
async fn join_relays(relays: Vec<tokio::task::JoinHandle<()>>) {
    for relay in relays {
        let _ = relay.await;
    }
}

/// Turns each output line into a Telemetry API record (a JSON object line stays an object, as
/// Lambda does for JSON-formatted logs) and hands it to the caller.
async fn relay(
    output: impl AsyncRead + Unpin,
    name: String,
    kind: Kind,
    config: Config,
    shared: Arc<Shared>,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let record = match serde_json::from_str::<Value>(&line) {
            Ok(object @ Value::Object(_)) => object,
            _ => Value::String(line.clone()),
        };
        shared.emit(Instant::now(), kind.stream(), record);
        let output = OutputLine {
            process: name.clone(),
            stream: kind.stream(),
            line,
        };
        if config.echo_output {
            eprintln!("[{}] {}", output.process, output.line);
        }
        if let Some(callback) = &config.on_output {
            callback(&output);
        }
        shared
            .output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(output);
    }
}
