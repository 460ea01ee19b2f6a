//! The sandbox handle: start one from a [`Config`], invoke it, observe what it emitted, shut it down.

use crate::api;
use crate::config::{Config, OutputLine};
use crate::error::Error;
use crate::event::Event;
use crate::lifecycle::Inner;
use crate::shutdown::{ShutdownReason, ShutdownReport};
use crate::state::{ReportedError, Shared};
use crate::telemetry::Delivery;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One invocation request.
#[derive(Clone, Debug, Default)]
pub struct Invoke {
    /// The event the runtime gets as the body of its `next` response.
    pub payload: Bytes,
    /// An X-Ray header (`Root=…;Parent=…;Sampled=…`); a missing `Parent` gets a fresh one, a
    /// missing header a fresh trace.
    pub trace_header: Option<String>,
    /// Sent to the runtime as is, as `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// Sent to the runtime as is, as `Lambda-Runtime-Cognito-Identity`.
    pub cognito_identity: Option<String>,
    /// The request id (a fresh UUID unless set).
    pub request_id: Option<String>,
}

impl Invoke {
    /// An invocation with `payload` serialised as its event, everything else left to the sandbox.
    pub fn json(payload: &Value) -> Invoke {
        Invoke {
            payload: Bytes::from(payload.to_string()),
            ..Invoke::default()
        }
    }

    /// Sets [`Invoke::trace_header`].
    pub fn trace_header(mut self, header: impl Into<String>) -> Invoke {
        self.trace_header = Some(header.into());
        self
    }

    /// Sets [`Invoke::client_context`].
    pub fn client_context(mut self, context: impl Into<String>) -> Invoke {
        self.client_context = Some(context.into());
        self
    }
}

/// How an invocation ended for its caller.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The runtime posted a response.
    Response(Bytes),
    /// The runtime posted `/error`.
    FunctionError {
        /// Its `Lambda-Runtime-Function-Error-Type` header (`Runtime.Unknown` if missing or empty).
        error_type: String,
        /// The error document it posted.
        body: Bytes,
    },
    /// The deadline passed first (the sandbox was reset).
    Timeout,
    /// A process died or init failed (the sandbox was reset).
    Failure {
        /// Lambda's error type: `Runtime.ExitError`, `Extension.Crash` or `Runtime.InitError`.
        error_type: String,
        /// Which process exited, or why init failed, for people.
        reason: String,
    },
}

impl Outcome {
    /// The response (or error) body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        match self {
            Outcome::Response(body) | Outcome::FunctionError { body, .. } => {
                serde_json::from_slice(body).ok()
            }
            _ => None,
        }
    }
}

/// An invocation's whole lifecycle, once `platform.report` was sent.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The id the runtime got as `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// What the caller got (the same as [`Invocation::response`]).
    pub outcome: Outcome,
    /// This invocation ran init first.
    pub cold: bool,
    /// The `Lambda-Runtime-Trace-Id` the runtime got.
    pub trace_header: String,
    /// The `platform.runtimeDone` record.
    pub runtime_done: Value,
    /// The `platform.report` record.
    pub report: Value,
    /// The reset that followed a timeout or failure.
    pub reset: Option<ShutdownReport>,
    /// When the invocation was released to the runtime (its `next` returned).
    pub released_at: DateTime<Utc>,
    /// When the runtime's response or error had been read in full (None if it never answered).
    pub answered_at: Option<DateTime<Utc>>,
    /// When the runtime called `next` again, the end of its hand-off (None after a reset).
    pub runtime_next_at: Option<DateTime<Utc>>,
}

/// An invocation in progress.
pub struct Invocation {
    /// The id the runtime gets (the one set in [`Invoke::request_id`] or a fresh UUID).
    pub request_id: String,
    response: Option<oneshot::Receiver<Outcome>>,
    done: oneshot::Receiver<Result<Finished, Error>>,
}

impl Invocation {
    pub(crate) fn new(
        request_id: String,
        response: oneshot::Receiver<Outcome>,
        done: oneshot::Receiver<Result<Finished, Error>>,
    ) -> Invocation {
        Invocation {
            request_id,
            response: Some(response),
            done,
        }
    }

    /// The runtime's answer, as soon as it is there (before the extensions are done).
    pub async fn response(&mut self) -> Result<Outcome, Error> {
        match self.response.take() {
            Some(rx) => rx.await.map_err(|_| Error::Abandoned),
            None => Err(Error::Abandoned),
        }
    }

    /// Waits for the end of its lifecycle (`platform.report` sent, frozen if freezing).
    pub async fn finished(self) -> Result<Finished, Error> {
        self.done.await.map_err(|_| Error::Abandoned)?
    }
}

/// A running execution environment.
pub struct Sandbox {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds the APIs, starts the extensions and the runtime (if it is a process) and runs init.
    /// With [`crate::Runtime::External`] init ends at the caller's runtime's first `next`, which the
    /// first invocation (or [`Sandbox::wait_initialized`]) waits for.
    pub async fn start(config: Config) -> Result<Sandbox, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.api_port.unwrap_or(0)))
            .await
            .map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let shared = Arc::new(Shared::new(&config));
        let router = api::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(message = "lambda-env API server stopped", %error);
            }
        });
        let inner = Arc::new(Inner::new(config, shared, addr));
        let sandbox = Sandbox {
            inner,
            addr,
            server,
        };
        sandbox.inner.start().await?;
        Ok(sandbox)
    }

    /// `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:port`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:port`.
    pub fn runtime_api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The variables Lambda sets for the runtime and extensions.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        self.inner.lambda_env()
    }

    /// Starts one invocation (after the previous one's lifecycle, one at a time as in Lambda).
    pub fn invoke(&self, invoke: Invoke) -> Invocation {
        self.inner.clone().invoke(invoke)
    }

    /// Runs one invocation to the end of its lifecycle.
    pub async fn run(&self, invoke: Invoke) -> Result<Finished, Error> {
        self.invoke(invoke).finished().await
    }

    /// Waits for init to end (for a caller-run runtime: its first `next`).
    pub async fn wait_initialized(&self) -> Result<(), Error> {
        self.inner.wait_initialized().await
    }

    /// Lambda's shutdown: SIGTERM to the runtime, SHUTDOWN to the extensions, SIGKILL at the
    /// deadline; how each process ended. A second call reports nothing.
    pub async fn shutdown(&self, reason: ShutdownReason) -> ShutdownReport {
        self.inner.shutdown(reason).await
    }

    /// Every event emitted so far (platform events and log lines), in order.
    pub fn events(&self) -> Vec<Event> {
        self.inner.shared.events.snapshot()
    }

    /// The records of the events of type `event_type`.
    pub fn records(&self, event_type: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e.event_type == event_type)
            .map(|e| e.record)
            .collect()
    }

    /// Waits until `count` events of `event_type` were emitted (or `timeout`); returns their records.
    pub async fn wait_for_records(
        &self,
        event_type: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        self.inner
            .shared
            .wait_for(Some(deadline), |_| {
                let records = self.records(event_type);
                (records.len() >= count).then_some(records)
            })
            .await
            .unwrap_or_else(|| self.records(event_type))
    }

    /// Every output line of every process so far.
    pub fn output(&self) -> Vec<OutputLine> {
        self.inner
            .shared
            .output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Output lines of process `name`.
    pub fn output_of(&self, name: &str) -> Vec<String> {
        self.output()
            .into_iter()
            .filter(|l| l.process == name)
            .map(|l| l.line)
            .collect()
    }

    /// The Telemetry API batches POSTed so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.shared.telemetry.deliveries()
    }

    /// When the sandbox was frozen (SIGSTOP sent), each time.
    pub fn freezes(&self) -> Vec<chrono::DateTime<chrono::Utc>> {
        self.inner.freezes()
    }

    /// Whether the processes are stopped right now (between invocations when freezing).
    pub fn is_frozen(&self) -> bool {
        self.inner.is_frozen()
    }

    /// Name and pid of each live process of the current environment.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.inner.pids()
    }

    /// Errors extensions reported through `exit/error` or anyone through `init/error`.
    pub fn reported_errors(&self) -> Vec<ReportedError> {
        self.inner.shared.read(|s| {
            s.init_error
                .iter()
                .chain(s.exit_errors.iter())
                .cloned()
                .collect()
        })
    }

    /// Names of the processes that exited (name, pid, status) so far, in order.
    pub fn exits(&self) -> Vec<(String, u32, String)> {
        self.inner.shared.read(|s| s.exits.clone())
    }
}

impl Drop for Sandbox {
    /// No process outlives its sandbox, whatever path the caller takes out (error, panic).
    fn drop(&mut self) {
        self.inner.kill_all();
        self.server.abort();
    }
}
