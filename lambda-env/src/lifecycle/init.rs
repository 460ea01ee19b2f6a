//! Init (`internal/lambda/rapid/handlers.go` `doRuntimeDomainInit`): `platform.initStart`, the
//! extensions started and registered, the runtime started, every process in `next`, the init reports.

use super::{Inner, Life};
use crate::config::Runtime;
use crate::error::Error;
use crate::event::ms;
use crate::process::{self, Kind};
use crate::shutdown::{self, ShutdownReason};
use crate::state::State;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// Init under way: started, waiting for the runtime's first `next`.
pub(super) struct InitProgress {
    started: Instant,
    phase: &'static str,
}

impl Inner {
    /// Init up to the runtime's start: `platform.initStart`, extensions started and registered.
    pub(super) async fn begin_init(
        &self,
        life: &mut Life,
        phase: &'static str,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let shared = &self.shared;
        shared.telemetry.reset(&shared.events);
        let external_names: Vec<String> = self
            .config
            .extensions
            .iter()
            .map(|p| p.process_name())
            .collect();
        shared.update(|s| {
            *s = State {
                registration_open: true,
                subscriptions_open: true,
                external_names,
                exits: std::mem::take(&mut s.exits),
                exit_errors: std::mem::take(&mut s.exit_errors),
                ..State::default()
            };
        });
        shared.emit(
            started,
            "platform.initStart",
            json!({
                "initializationType": "on-demand",
                "phase": phase,
                "functionName": self.config.function_name,
                "functionVersion": self.config.function_version,
            }),
        );
        life.init = Some(InitProgress { started, phase });
        let deadline = started + self.config.init_timeout;
        let env = self.lambda_env();
        let mut started_extensions = Vec::new();
        for spec in &self.config.extensions {
            let child = Arc::new(process::spawn(
                spec,
                Kind::Extension,
                &self.config,
                &env,
                shared,
            )?);
            started_extensions.push(child.pid);
            self.processes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(child);
        }
        // AwaitExternalAgentsRegistered.
        let count = self.config.extensions.len();
        let pids = started_extensions;
        let registered = shared
            .wait_for(Some(deadline), |s| {
                if let Some(error) = init_broken(s, &pids) {
                    return Some(Err(error));
                }
                (s.extensions.iter().filter(|e| e.external).count() >= count).then_some(Ok(()))
            })
            .await
            .unwrap_or_else(|| {
                Err(Error::InitTimeout(format!(
                    "{count} extension(s) to register"
                )))
            });
        if let Err(error) = registered {
            return Err(self.init_failed(life, error).await);
        }
        if let Runtime::Process(spec) = &self.config.runtime {
            let child = process::spawn(spec, Kind::Runtime, &self.config, &env, shared);
            match child {
                Ok(child) => self
                    .processes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Arc::new(child)),
                Err(error) => return Err(self.init_failed(life, error).await),
            }
        }
        Ok(())
    }

    /// Init from the runtime's start to its end (the runtime and every extension in `next`).
    pub(super) async fn finish_init(&self, life: &mut Life) -> Result<(), Error> {
        let Some(progress) = life.init.take() else {
            return Ok(());
        };
        let deadline = progress.started + self.config.init_timeout;
        let pids: Vec<u32> = self.live().iter().map(|p| p.pid).collect();
        let ready = self
            .shared
            .wait_for(Some(deadline), |s| {
                if let Some(error) = init_broken(s, &pids) {
                    return Some(Err(error));
                }
                // AwaitRuntimeRestoreReady, then (registration closed) AwaitAgentsReady.
                if s.runtime.waiting().is_some() && s.extensions_waiting().is_some() {
                    return Some(Ok(()));
                }
                None
            })
            .await
            .unwrap_or_else(|| {
                Err(Error::InitTimeout(
                    "the runtime's first next and every extension's next".into(),
                ))
            });
        if let Err(error) = ready {
            self.init_reports(&progress, Some(&error));
            return Err(self.init_failed(life, error).await);
        }
        self.init_reports(&progress, None);
        life.cold = Some(progress.started.elapsed());
        self.freeze().await;
        Ok(())
    }

    /// `platform.initRuntimeDone`, `platform.extension` per extension, `platform.initReport`; closes
    /// registration and subscriptions.
    fn init_reports(&self, progress: &InitProgress, error: Option<&Error>) {
        let now = Instant::now();
        let extensions = self.shared.update(|s| {
            s.registration_open = false;
            s.subscriptions_open = false;
            s.extensions
                .iter()
                .map(|e| (e.name.clone(), e.events.clone()))
                .collect::<Vec<_>>()
        });
        let mut done = json!({
            "initializationType": "on-demand",
            "phase": progress.phase,
            "status": if error.is_some() { "error" } else { "success" },
        });
        if let Some(error) = error {
            done["errorType"] = json!(match error {
                Error::InitError { error_type, .. } => error_type.clone(),
                Error::InitTimeout(_) => "Sandbox.Timedout".into(),
                _ => "Runtime.ExitError".into(),
            });
        }
        self.shared.emit(now, "platform.initRuntimeDone", done);
        for (name, events) in extensions {
            self.shared.emit(
                now,
                "platform.extension",
                json!({"name": name, "state": "Ready", "events": events}),
            );
        }
        self.shared.emit(
            now,
            "platform.initReport",
            json!({
                "initializationType": "on-demand",
                "phase": progress.phase,
                "status": if error.is_some() { "error" } else { "success" },
                "metrics": {"durationMs": ms(now.duration_since(progress.started))},
            }),
        );
    }

    /// A failed init: the environment is stopped (rapid: the control plane resets it).
    async fn init_failed(&self, life: &mut Life, error: Error) -> Error {
        let processes = self.take_processes();
        shutdown::stop(self, processes, ShutdownReason::Failure).await;
        life.needs_init = true;
        life.init = None;
        error
    }
}

/// How init has failed so far, if it has: a process reported an init error (`/init/error`), or one of
/// `pids` exited (rapid's init fails on either, whichever comes first).
fn init_broken(state: &State, pids: &[u32]) -> Option<Error> {
    if let Some(error) = &state.init_error {
        return Some(Error::InitError {
            by: error.by.clone(),
            error_type: error.error_type.clone(),
        });
    }
    state
        .exits
        .iter()
        .find(|(_, pid, _)| pids.contains(pid))
        .map(|(name, _, status)| Error::ExitedDuringInit {
            name: name.clone(),
            status: status.clone(),
        })
}
