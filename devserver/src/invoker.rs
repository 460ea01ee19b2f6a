//! Invocations, one at a time, like a Lambda function with a single execution environment.
//!
//! Each request goes to lambda-env's Runtime API; its answer goes back to the caller as soon as the
//! runtime posts it, while the environment finishes the invocation's lifecycle (the runtime's hand-off,
//! the sidecar's post-runtime flush, `platform.report`) before the next one starts. Like Lambda, a
//! timeout or a crashed process resets the environment: the next request runs init again (a cold start).

use crate::sandbox::{Sandbox, SandboxConfig, SandboxError};
use lambda_env::Invoke;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The runtime posted a response payload.
    Response {
        /// The invocation's request id.
        request_id: String,
        /// The response payload, parsed (a response that is not JSON is a [`Outcome::Failed`]).
        payload: Value,
    },
    /// The runtime posted an error (`/invocation/{id}/error`).
    FunctionError {
        /// The invocation's request id.
        request_id: String,
        /// The runtime's `Lambda-Runtime-Function-Error-Type`.
        error_type: String,
        /// The error document's `errorMessage` (empty if it has none).
        error_message: String,
    },
    /// The function did not answer within its timeout.
    Timeout {
        /// The invocation's request id.
        request_id: String,
    },
    /// A process of the environment died, or the environment could not start.
    Failed {
        /// What happened, for the log and the caller.
        reason: String,
    },
    /// The runner is shutting down.
    Stopping,
}

/// Serialises invocations onto one [`Sandbox`].
pub struct Invoker {
    sandbox: Sandbox,
    stopping: AtomicBool,
}

impl Invoker {
    /// Starts the first environment now, so init problems show at once.
    pub async fn start(config: SandboxConfig) -> Result<Arc<Invoker>, SandboxError> {
        let sandbox = Sandbox::start(&config).await?;
        Ok(Arc::new(Invoker {
            sandbox,
            stopping: AtomicBool::new(false),
        }))
    }

    /// Runs one invocation with `event` as its payload.
    pub async fn invoke(self: &Arc<Self>, event: Value) -> Outcome {
        if self.stopping.load(Ordering::SeqCst) {
            return Outcome::Stopping;
        }
        let mut invocation = self.sandbox.env().invoke(Invoke::json(&event));
        let request_id = invocation.request_id.clone();
        let answer = invocation.response().await;
        // The rest of the lifecycle (hand-off, extensions, report) runs on; log its end.
        tokio::spawn(async move {
            match invocation.finished().await {
                Ok(done) => tracing::info!(
                    message = "REPORT",
                    request_id = %done.request_id,
                    status = %done.report["status"].as_str().unwrap_or_default(),
                    duration_ms = %two_decimals(&done.report["metrics"]["durationMs"]),
                    billed_ms = done.report["metrics"]["billedDurationMs"].as_u64(),
                    max_memory_mb = done.report["metrics"]["maxMemoryUsedMB"].as_u64(),
                    init_ms = %two_decimals(&done.report["metrics"]["initDurationMs"]),
                    cold = done.cold,
                ),
                Err(error) => tracing::warn!(message = "invocation did not finish", %error),
            }
        });
        match answer {
            Ok(lambda_env::Outcome::Response(body)) => match serde_json::from_slice(&body) {
                Ok(payload) => Outcome::Response {
                    request_id,
                    payload,
                },
                Err(error) => Outcome::Failed {
                    reason: format!("the response of {request_id} is not JSON: {error}"),
                },
            },
            Ok(lambda_env::Outcome::FunctionError { error_type, body }) => {
                let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                Outcome::FunctionError {
                    request_id,
                    error_type,
                    error_message: body["errorMessage"].as_str().unwrap_or_default().to_owned(),
                }
            }
            Ok(lambda_env::Outcome::Timeout) => {
                tracing::error!(message = "task timed out; the next request starts a new environment", %request_id);
                Outcome::Timeout { request_id }
            }
            Ok(lambda_env::Outcome::Failure { error_type, reason }) => {
                tracing::error!(message = "the environment failed; the next request starts a new one", %request_id, %error_type, %reason);
                Outcome::Failed { reason }
            }
            Err(error) => Outcome::Failed {
                reason: error.to_string(),
            },
        }
    }

    /// Refuses new invocations, waits for the current one, and shuts the environment down.
    pub async fn shutdown(&self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            self.sandbox.shutdown().await;
        }
    }
}

/// A report figure as Lambda's REPORT line writes it (`2.14`), or `-` when absent.
fn two_decimals(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2}"))
}
