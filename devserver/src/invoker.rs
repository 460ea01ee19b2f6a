//! Invocations, one at a time, like a Lambda function with a single execution environment.
//!
//! Each request is enqueued on the simulator's Runtime API; its answer goes back to the caller as
//! soon as the runtime posts it, but the next invocation starts only once every extension has
//! called `next` again (the post-runtime phase, where the sidecar flushes). Like Lambda, a timeout
//! or a crashed process ends the environment: the next request starts a new one (a cold start).

use crate::sandbox::{Sandbox, SandboxConfig, SandboxError};
use lambda_simulator::{Invocation, InvocationStatus};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, oneshot};

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The runtime posted a response payload.
    Response { request_id: String, payload: Value },
    /// The runtime posted an error (`/invocation/{id}/error`).
    FunctionError {
        request_id: String,
        error_type: String,
        error_message: String,
    },
    /// The function did not answer within its timeout.
    Timeout { request_id: String },
    /// A process of the environment died, or the environment could not start.
    Failed { reason: String },
    /// The runner is shutting down.
    Stopping,
}

/// Serialises invocations onto one [`Sandbox`], restarting it when Lambda would.
pub struct Invoker {
    config: SandboxConfig,
    slot: Mutex<Option<Sandbox>>,
    stopping: AtomicBool,
}

impl Invoker {
    /// Starts the first environment now, so init problems show at once.
    pub async fn start(config: SandboxConfig) -> Result<Arc<Invoker>, SandboxError> {
        let sandbox = Sandbox::start(&config).await?;
        Ok(Arc::new(Invoker {
            config,
            slot: Mutex::new(Some(sandbox)),
            stopping: AtomicBool::new(false),
        }))
    }

    /// Runs one invocation with `event` as its payload.
    pub async fn invoke(self: &Arc<Self>, event: Value) -> Outcome {
        let (answer, outcome) = oneshot::channel();
        let this = self.clone();
        tokio::spawn(async move {
            let mut slot = this.slot.lock().await;
            if this.stopping.load(Ordering::SeqCst) {
                let _ = answer.send(Outcome::Stopping);
                return;
            }
            if slot.is_none() {
                tracing::info!(message = "starting a new execution environment (cold start)");
                match Sandbox::start(&this.config).await {
                    Ok(sandbox) => *slot = Some(sandbox),
                    Err(error) => {
                        tracing::error!(message = "the execution environment did not start", %error);
                        let _ = answer.send(Outcome::Failed {
                            reason: error.to_string(),
                        });
                        return;
                    }
                }
            }
            let Some(sandbox) = slot.as_mut() else { return };
            let (outcome, keep) = run(sandbox, event, this.config.timeout).await;
            let request_id = match &outcome {
                Outcome::Response { request_id, .. }
                | Outcome::FunctionError { request_id, .. } => Some(request_id.clone()),
                _ => None,
            };
            let _ = answer.send(outcome);
            if !keep {
                if let Some(sandbox) = slot.take() {
                    sandbox.shutdown().await;
                }
                return;
            }
            if let Some(request_id) = request_id {
                post_runtime(sandbox, &request_id, this.config.timeout).await;
            }
        });
        outcome.await.unwrap_or(Outcome::Stopping)
    }

    /// Refuses new invocations, waits for the current one, and shuts the environment down.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let sandbox = self.slot.lock().await.take();
        if let Some(sandbox) = sandbox {
            sandbox.shutdown().await;
        }
    }
}

/// Enqueues `event` and waits for the runtime's answer. The flag says whether the environment
/// survives (false after a timeout or a dead process, as in Lambda).
async fn run(sandbox: &mut Sandbox, event: Value, timeout: Duration) -> (Outcome, bool) {
    let Some(simulator) = sandbox.simulator() else {
        return (Outcome::Stopping, false);
    };
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let request_id = simulator.enqueue(Invocation::new(event, timeout_ms)).await;
    let started = Instant::now();
    loop {
        let Some(simulator) = sandbox.simulator() else {
            return (Outcome::Stopping, false);
        };
        // Short slices: the simulator's own wake-up can be missed by a very fast function.
        if let Ok(state) = simulator
            .wait_for_invocation_complete(&request_id, Duration::from_millis(20))
            .await
        {
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            return match (state.status, state.response, state.error) {
                (InvocationStatus::Success, Some(response), _) => {
                    tracing::info!(message = "REPORT", %request_id, duration_ms, status = "success");
                    (
                        Outcome::Response {
                            request_id,
                            payload: response.payload,
                        },
                        true,
                    )
                }
                (_, _, Some(error)) => {
                    tracing::warn!(message = "REPORT", %request_id, duration_ms, status = "error", error_type = %error.error_type);
                    (
                        Outcome::FunctionError {
                            request_id,
                            error_type: error.error_type,
                            error_message: error.error_message,
                        },
                        true,
                    )
                }
                (status, _, _) => (
                    Outcome::Failed {
                        reason: format!(
                            "invocation {request_id} ended as {status:?} without a response"
                        ),
                    },
                    false,
                ),
            };
        }
        if let Some((name, status)) = sandbox.exited_child() {
            tracing::error!(message = "a process of the environment died; the next request starts a new one", process = %name, %status, %request_id);
            return (
                Outcome::Failed {
                    reason: format!("{name} exited ({status}) during invocation {request_id}"),
                },
                false,
            );
        }
        if started.elapsed() >= timeout {
            tracing::error!(message = "REPORT: task timed out; the next request starts a new environment", %request_id, timeout_s = timeout.as_secs_f64());
            return (Outcome::Timeout { request_id }, false);
        }
    }
}

/// Waits until every extension has called `next` after `request_id` (bounded by the function's
/// timeout) and logs how long they took after the runtime's response.
async fn post_runtime(sandbox: &mut Sandbox, request_id: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let Some(simulator) = sandbox.simulator() else {
            return;
        };
        if simulator.are_extensions_ready(request_id).await {
            if let Some(ms) = simulator.get_extension_overhead_ms(request_id).await {
                tracing::info!(message = "extensions done", %request_id, post_runtime_ms = ms);
            }
            return;
        }
        if sandbox.exited_child().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tracing::warn!(message = "extensions still busy after the function timeout; starting the next invocation anyway", %request_id);
}
