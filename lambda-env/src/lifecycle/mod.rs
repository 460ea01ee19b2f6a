//! Init, invoke, reset and freeze in rapid's order (`internal/lambda/rapid/handlers.go`):
//! - init (`doRuntimeDomainInit`): `platform.initStart`; the extensions started and registered
//!   (`doInitExtensions`, `AwaitExternalAgentsRegistered`) before the runtime starts; init ends when
//!   the runtime (`AwaitRuntimeRestoreReady`) and then every extension (`AwaitAgentsReady`) wait in
//!   `next`; `platform.initRuntimeDone`, `platform.extension`, `platform.initReport` (its deferred
//!   calls), registration and Telemetry API subscriptions closed;
//! - invoke (`doInvoke`): `platform.start`; INVOKE released to the extensions, then the runtime
//!   (`SetRuntimeStartedTime` just before); the response (`AwaitRuntimeResponse`); the runtime's next
//!   `next` (`AwaitRuntimeReady`); `platform.runtimeDone` with `GetRuntimeDoneInvokeMetrics` and the
//!   spans; every extension's `next` (`AwaitAgentsReady`, `extensionOverhead` span); then
//!   `platform.report` (sent by Lambda's control plane after rapid answers);
//! - a deadline passed or a process died: `handleReset` (`runtimeDone` with status timeout / error,
//!   then `shutdown` with that reason); the next invoke runs init again (phase `invoke`);
//! - freeze: SIGSTOP to every process group once the runtime and all extensions wait in `next`,
//!   SIGCONT before the next release or the shutdown.
//!
//! Its modules:
//! - `init` — `doRuntimeDomainInit`: `platform.initStart` to `platform.initReport`;
//! - `invoke` — `doInvoke`: `platform.start` to the extensions' `next`;
//! - `reset` — `handleReset`: an invocation cut short, its `runtimeDone` and shutdown;
//! - `freeze` — SIGSTOP / SIGCONT around the waits in `next`;
//! - `report` — `platform.report`;
//! - this module — the environment's state, its processes and the entry points.

mod freeze;
mod init;
mod invoke;
mod report;
mod reset;

use crate::config::{Config, Runtime};
use crate::error::Error;
use crate::process::{Child, Kind};
use crate::sandbox::{Invocation, Invoke};
use crate::shutdown::{self, ShutdownReason, ShutdownReport};
use crate::state::Shared;
use crate::xray::new_request_id;
use init::InitProgress;
use nix::sys::signal::Signal;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Default)]
struct Life {
    /// The environment was reset: the next invoke runs init first.
    needs_init: bool,
    init: Option<InitProgress>,
    /// Init's duration, until the first invoke after it reports it.
    cold: Option<Duration>,
    shut_down: bool,
}

pub(crate) struct Inner {
    pub config: Config,
    pub shared: Arc<Shared>,
    addr: SocketAddr,
    life: tokio::sync::Mutex<Life>,
    processes: Mutex<Vec<Arc<Child>>>,
    frozen: AtomicBool,
    freezes: Mutex<Vec<Instant>>,
}

/// Why a wait ended early.
enum Interrupt {
    Deadline,
    Died { name: String, kind: Kind },
}

impl Inner {
    pub fn new(config: Config, shared: Arc<Shared>, addr: SocketAddr) -> Inner {
        Inner {
            config,
            shared,
            addr,
            life: tokio::sync::Mutex::new(Life::default()),
            processes: Mutex::new(Vec::new()),
            frozen: AtomicBool::new(false),
            freezes: Mutex::new(Vec::new()),
        }
    }

    pub fn lambda_env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", c.function_name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", c.function_version.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", c.function_name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]lambda-env".into(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", c.region.clone()),
            ("AWS_DEFAULT_REGION", c.region.clone()),
            ("_HANDLER", c.handler.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn live(&self) -> Vec<Arc<Child>> {
        self.processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn pids(&self) -> Vec<(String, u32)> {
        self.live()
            .iter()
            .filter(|p| p.exited().is_none())
            .map(|p| (p.name.clone(), p.pid))
            .collect()
    }

    /// SIGKILL to everything still running (the handle was dropped).
    pub fn kill_all(&self) {
        for process in self.live() {
            process.signal(Signal::SIGCONT);
            process.signal(Signal::SIGKILL);
        }
    }

    /// The sandbox's start: init, or its first half with a caller-run runtime.
    pub async fn start(&self) -> Result<(), Error> {
        let mut life = self.life.lock().await;
        self.begin_init(&mut life, "init").await?;
        if matches!(self.config.runtime, Runtime::Process(_)) {
            self.finish_init(&mut life).await?;
        }
        Ok(())
    }

    pub async fn wait_initialized(&self) -> Result<(), Error> {
        let mut life = self.life.lock().await;
        if life.init.is_some() {
            self.finish_init(&mut life).await?;
        }
        Ok(())
    }

    fn take_processes(&self) -> Vec<Arc<Child>> {
        std::mem::take(&mut *self.processes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub async fn shutdown(&self, reason: ShutdownReason) -> ShutdownReport {
        let mut life = self.life.lock().await;
        life.shut_down = true;
        let processes = self.take_processes();
        shutdown::stop(self, processes, reason).await
    }

    pub fn invoke(self: Arc<Self>, invoke: Invoke) -> Invocation {
        let request_id = invoke.request_id.clone().unwrap_or_else(new_request_id);
        let (response_tx, response_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let id = request_id.clone();
        tokio::spawn(async move {
            let result = self.run_invoke(id, invoke, response_tx).await;
            let _ = done_tx.send(result);
        });
        Invocation::new(request_id, response_rx, done_rx)
    }
}
