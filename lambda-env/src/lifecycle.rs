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

use crate::config::{Config, Runtime};
use crate::error::Error;
use crate::event::{ms, span, tracing};
use crate::process::{self, Child, Kind};
use crate::sandbox::{Finished, Invocation, Invoke, Outcome};
use crate::shutdown::{self, ShutdownReason, ShutdownReport};
use crate::state::{Answer, Current, RuntimeEvent, Shared, State};
use crate::xray::{TraceHeader, new_request_id};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Init under way: started, waiting for the runtime's first `next`.
struct InitProgress {
    started: Instant,
    phase: &'static str,
}

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

    pub fn freezes(&self) -> Vec<chrono::DateTime<chrono::Utc>> {
        self.freezes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|at| self.shared.clock.wall(*at))
            .collect()
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
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

    /// Init up to the runtime's start: `platform.initStart`, extensions started and registered.
    async fn begin_init(&self, life: &mut Life, phase: &'static str) -> Result<(), Error> {
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
                if let Some(error) = &s.init_error {
                    return Some(Err(Error::InitError {
                        by: error.by.clone(),
                        error_type: error.error_type.clone(),
                    }));
                }
                if let Some((name, _, status)) =
                    s.exits.iter().find(|(_, pid, _)| pids.contains(pid))
                {
                    return Some(Err(Error::ExitedDuringInit {
                        name: name.clone(),
                        status: status.clone(),
                    }));
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
    async fn finish_init(&self, life: &mut Life) -> Result<(), Error> {
        let Some(progress) = life.init.take() else {
            return Ok(());
        };
        let deadline = progress.started + self.config.init_timeout;
        let pids: Vec<u32> = self.live().iter().map(|p| p.pid).collect();
        let ready = self
            .shared
            .wait_for(Some(deadline), |s| {
                if let Some(error) = &s.init_error {
                    return Some(Err(Error::InitError {
                        by: error.by.clone(),
                        error_type: error.error_type.clone(),
                    }));
                }
                if let Some((name, _, status)) =
                    s.exits.iter().find(|(_, pid, _)| pids.contains(pid))
                {
                    return Some(Err(Error::ExitedDuringInit {
                        name: name.clone(),
                        status: status.clone(),
                    }));
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

    fn take_processes(&self) -> Vec<Arc<Child>> {
        std::mem::take(&mut *self.processes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// SIGSTOP, only when the runtime and every extension wait in `next`; returns once the kernel
    /// shows every process stopped (Lambda's cgroup freeze is synchronous too), at most 1 s.
    async fn freeze(&self) {
        if !self.config.freeze {
            return;
        }
        let all_waiting = self
            .shared
            .read(|s| s.runtime.waiting().is_some() && s.extensions_waiting().is_some());
        if !all_waiting {
            return;
        }
        let processes = self.live();
        for process in &processes {
            process.signal(Signal::SIGSTOP);
        }
        self.frozen.store(true, Ordering::SeqCst);
        let give_up = Instant::now() + Duration::from_secs(1);
        while !processes.iter().all(|p| p.is_stopped()) && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.freezes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
    }

    pub fn mark_thawed(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        if self.frozen.swap(false, Ordering::SeqCst) {
            for process in self.live() {
                process.signal(Signal::SIGCONT);
            }
        }
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

    /// Waits for `f`, a process of this environment dying, or `deadline`.
    async fn wait<R>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&State) -> Option<R>,
    ) -> Result<R, Interrupt> {
        let processes: Vec<(u32, String, Kind)> = self
            .live()
            .iter()
            .map(|p| (p.pid, p.name.clone(), p.kind))
            .collect();
        self.shared
            .wait_for(Some(deadline), |s| {
                if let Some(r) = f(s) {
                    return Some(Ok(r));
                }
                s.exits.iter().find_map(|(_, pid, _)| {
                    processes
                        .iter()
                        .find(|(p, _, _)| p == pid)
                        .map(|(_, name, kind)| {
                            Err(Interrupt::Died {
                                name: name.clone(),
                                kind: *kind,
                            })
                        })
                })
            })
            .await
            .unwrap_or(Err(Interrupt::Deadline))
    }

    async fn run_invoke(
        self: &Arc<Self>,
        request_id: String,
        invoke: Invoke,
        response_tx: oneshot::Sender<Outcome>,
    ) -> Result<Finished, Error> {
        let mut life = self.life.lock().await;
        if life.shut_down {
            return Err(Error::ShutDown);
        }
        let failed_init = |error: &Error| Outcome::Failure {
            error_type: "Runtime.InitError".into(),
            reason: error.to_string(),
        };
        if life.needs_init {
            life.needs_init = false;
            if let Err(error) = self.begin_init(&mut life, "invoke").await {
                let _ = response_tx.send(failed_init(&error));
                return Err(error);
            }
        }
        if let Err(error) = self.finish_init(&mut life).await {
            let _ = response_tx.send(failed_init(&error));
            return Err(error);
        }
        let cold = life.cold.take();
        self.thaw();
        let shared = &self.shared;
        let trace = invoke
            .trace_header
            .as_deref()
            .and_then(TraceHeader::parse)
            .unwrap_or_else(TraceHeader::fresh);
        let header = trace.header();
        let tracing = tracing(&trace.parent, &header);
        let started = Instant::now();
        let deadline = started + self.config.timeout;
        let deadline_ms = shared.clock.unix_ms(deadline);
        shared.update(|s| {
            s.current = Some(Current {
                request_id: request_id.clone(),
                answer: None,
                answer_started: None,
                answer_finished: None,
            });
        });
        shared.emit(
            started,
            "platform.start",
            json!({"requestId": request_id, "version": self.config.function_version, "tracing": tracing}),
        );
        let extension_event = json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": shared.function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": header},
        });
        let runtime_event = RuntimeEvent {
            request_id: request_id.clone(),
            payload: invoke.payload.clone(),
            deadline_ms,
            function_arn: shared.function_arn.clone(),
            trace_header: header.clone(),
            client_context: invoke.client_context.clone(),
            cognito_identity: invoke.cognito_identity.clone(),
        };
        let runtime_started = shared.update(|s| {
            for extension in &mut s.extensions {
                if extension.events.iter().any(|e| e == "INVOKE") {
                    extension.party.release(extension_event.clone());
                }
            }
            let at = Instant::now();
            s.runtime.release(runtime_event);
            at
        });
        let mut response_tx = Some(response_tx);
        let mut respond = |outcome: Outcome| {
            if let Some(tx) = response_tx.take() {
                let _ = tx.send(outcome);
            }
        };

        // AwaitRuntimeResponse.
        let answered = self
            .wait(deadline, |s| {
                let current = s.current.as_ref()?;
                let answer = current.answer.clone()?;
                Some((answer, current.answer_started?, current.answer_finished?))
            })
            .await;
        let answer = match answered {
            Ok(answer) => answer,
            Err(interrupt) => {
                return Ok(self
                    .reset(
                        &mut life,
                        interrupt,
                        request_id,
                        started,
                        runtime_started,
                        None,
                        header,
                        tracing,
                        cold,
                        &mut respond,
                    )
                    .await);
            }
        };
        let (answer, answer_started, answer_finished) = answer;
        let outcome = match &answer {
            Answer::Response(body) => Outcome::Response(body.clone()),
            Answer::Error { error_type, body } => Outcome::FunctionError {
                error_type: error_type.clone(),
                body: body.clone(),
            },
        };
        respond(outcome.clone());

        // AwaitRuntimeReady: the runtime's next `next`.
        let ready = self.wait(deadline, |s| s.runtime.waiting()).await;
        let runtime_ready = match ready {
            Ok(at) => at,
            Err(interrupt) => {
                let answered = Some((answer, answer_started, answer_finished));
                return Ok(self
                    .reset(
                        &mut life,
                        interrupt,
                        request_id,
                        started,
                        runtime_started,
                        answered,
                        header,
                        tracing,
                        cold,
                        &mut respond,
                    )
                    .await);
            }
        };
        let mut runtime_done = json!({
            "requestId": request_id,
            "status": "success",
            "metrics": {
                "durationMs": ms(runtime_ready.saturating_duration_since(runtime_started)),
                "producedBytes": produced_bytes(&answer),
            },
            "spans": [
                span(&shared.clock, "responseLatency", runtime_started, answer_started),
                span(&shared.clock, "responseDuration", answer_started, answer_finished),
                span(&shared.clock, "runtimeOverhead", answer_finished, runtime_ready),
            ],
            "tracing": tracing,
        });
        if let Answer::Error { error_type, .. } = &answer {
            runtime_done["status"] = json!("error");
            runtime_done["errorType"] = json!(error_type);
        }
        shared.emit(Instant::now(), "platform.runtimeDone", runtime_done.clone());

        // AwaitAgentsReady.
        let extensions_started = Instant::now();
        let has_extensions = shared.read(|s| !s.extensions.is_empty());
        let extensions_ready = self.wait(deadline, |s| s.extensions_waiting()).await;
        let ended = match extensions_ready {
            Ok(latest) => latest.unwrap_or(runtime_ready).max(runtime_ready),
            Err(interrupt) => {
                let (status, error_type, reason) = interrupted(&interrupt, self.config.timeout);
                let report = self.stop_after(&mut life, &interrupt).await;
                let record = self.report(
                    &request_id,
                    status,
                    error_type.as_deref(),
                    started.elapsed(),
                    cold,
                    &[],
                    &tracing,
                );
                return Ok(Finished {
                    request_id,
                    outcome: if status == "timeout" {
                        Outcome::Timeout
                    } else {
                        Outcome::Failure {
                            error_type: error_type.unwrap_or_default(),
                            reason,
                        }
                    },
                    cold: cold.is_some(),
                    trace_header: header,
                    runtime_done,
                    report: record,
                    reset: Some(report),
                    released_at: shared.clock.wall(runtime_started),
                    answered_at: Some(shared.clock.wall(answer_finished)),
                    runtime_next_at: Some(shared.clock.wall(runtime_ready)),
                });
            }
        };
        let spans = if has_extensions {
            vec![span(
                &shared.clock,
                "extensionOverhead",
                extensions_started,
                ended.max(extensions_started),
            )]
        } else {
            Vec::new()
        };
        let (status, error_type) = match &answer {
            Answer::Response(_) => ("success", None),
            Answer::Error { error_type, .. } => ("error", Some(error_type.as_str())),
        };
        let report = self.report(
            &request_id,
            status,
            error_type,
            ended.saturating_duration_since(runtime_started),
            cold,
            &spans,
            &tracing,
        );
        shared.update(|s| s.current = None);
        self.freeze().await;
        Ok(Finished {
            request_id,
            outcome,
            cold: cold.is_some(),
            trace_header: header,
            runtime_done,
            report,
            reset: None,
            released_at: shared.clock.wall(runtime_started),
            answered_at: Some(shared.clock.wall(answer_finished)),
            runtime_next_at: Some(shared.clock.wall(runtime_ready)),
        })
    }

    /// `handleReset` for an invocation cut short before `runtimeDone`: that event with status
    /// timeout / error, the shutdown with the same reason, then the report.
    #[allow(clippy::too_many_arguments)]
    async fn reset(
        &self,
        life: &mut Life,
        interrupt: Interrupt,
        request_id: String,
        started: Instant,
        runtime_started: Instant,
        answered: Option<(Answer, Instant, Instant)>,
        header: String,
        tracing: Value,
        cold: Option<Duration>,
        respond: &mut impl FnMut(Outcome),
    ) -> Finished {
        let shared = &self.shared;
        let (status, error_type, reason) = interrupted(&interrupt, self.config.timeout);
        let outcome = if status == "timeout" {
            Outcome::Timeout
        } else {
            Outcome::Failure {
                error_type: error_type.clone().unwrap_or_default(),
                reason,
            }
        };
        respond(outcome.clone());
        let now = Instant::now();
        // GetRuntimeDoneInvokeMetrics / GetRuntimeDoneSpans: response spans only if it responded.
        let mut spans = Vec::new();
        let mut produced = 0;
        if let Some((answer, answer_started, answer_finished)) = &answered {
            produced = produced_bytes(answer);
            spans.push(span(
                &shared.clock,
                "responseLatency",
                runtime_started,
                *answer_started,
            ));
            spans.push(span(
                &shared.clock,
                "responseDuration",
                *answer_started,
                *answer_finished,
            ));
            spans.push(span(
                &shared.clock,
                "runtimeOverhead",
                *answer_finished,
                now,
            ));
        }
        let mut runtime_done = json!({
            "requestId": request_id,
            "status": status,
            "metrics": {"durationMs": ms(now.duration_since(runtime_started)), "producedBytes": produced},
            "spans": spans,
            "tracing": tracing,
        });
        if let Some(error_type) = &error_type {
            runtime_done["errorType"] = json!(error_type);
        }
        shared.emit(now, "platform.runtimeDone", runtime_done.clone());
        let report = self.stop_after(life, &interrupt).await;
        let duration = match interrupt {
            Interrupt::Deadline => self.config.timeout,
            Interrupt::Died { .. } => now.duration_since(started),
        };
        let record = self.report(
            &request_id,
            status,
            error_type.as_deref(),
            duration,
            cold,
            &[],
            &tracing,
        );
        Finished {
            request_id,
            outcome,
            cold: cold.is_some(),
            trace_header: header,
            runtime_done,
            report: record,
            reset: Some(report),
            released_at: shared.clock.wall(runtime_started),
            answered_at: answered.as_ref().map(|(_, _, at)| shared.clock.wall(*at)),
            runtime_next_at: None,
        }
    }

    /// The reset's shutdown; the next invoke runs init again.
    async fn stop_after(&self, life: &mut Life, interrupt: &Interrupt) -> ShutdownReport {
        let reason = match interrupt {
            Interrupt::Deadline => ShutdownReason::Timeout,
            Interrupt::Died { .. } => ShutdownReason::Failure,
        };
        let processes = self.take_processes();
        let report = shutdown::stop(self, processes, reason).await;
        self.shared.update(|s| s.current = None);
        life.needs_init = true;
        report
    }

    /// `platform.report`.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        request_id: &str,
        status: &str,
        error_type: Option<&str>,
        duration: Duration,
        cold: Option<Duration>,
        spans: &[Value],
        tracing: &Value,
    ) -> Value {
        let duration_ms = ms(duration);
        // Container images and custom runtimes are billed for init too.
        let billed = (duration_ms + cold.map(ms).unwrap_or(0.0)).ceil() as u64;
        let peak_kib: u64 = self.live().iter().map(|p| p.peak_rss_kib()).sum();
        let mut metrics = json!({
            "durationMs": duration_ms,
            "billedDurationMs": billed,
            "memorySizeMB": self.config.memory_mb,
            "maxMemoryUsedMB": peak_kib.div_ceil(1024),
        });
        if let Some(init) = cold {
            metrics["initDurationMs"] = json!(ms(init));
        }
        let mut record = json!({
            "requestId": request_id,
            "status": status,
            "metrics": metrics,
            "tracing": tracing,
        });
        if !spans.is_empty() {
            record["spans"] = json!(spans);
        }
        if let Some(error_type) = error_type {
            record["errorType"] = json!(error_type);
        }
        self.shared
            .emit(Instant::now(), "platform.report", record.clone());
        record
    }
}

fn produced_bytes(answer: &Answer) -> usize {
    match answer {
        Answer::Response(body) | Answer::Error { body, .. } => body.len(),
    }
}

/// Status, errorType and a sentence for an interrupted invocation (`handleReset`: timeout has no
/// errorType; a dead process is `Runtime.ExitError` / `Extension.Crash`, status error).
fn interrupted(interrupt: &Interrupt, timeout: Duration) -> (&'static str, Option<String>, String) {
    match interrupt {
        Interrupt::Deadline => (
            "timeout",
            None,
            format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
        ),
        Interrupt::Died { name, kind } => {
            let error_type = match kind {
                Kind::Runtime => "Runtime.ExitError",
                Kind::Extension => "Extension.Crash",
            };
            (
                "error",
                Some(error_type.into()),
                format!("{name} exited during the invocation"),
            )
        }
    }
}
