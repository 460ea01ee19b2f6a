//! What can go wrong starting, invoking or stopping a sandbox.

/// Why starting a sandbox, or running an invocation in it, failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Runtime/Extensions/Telemetry API listener could not bind 127.0.0.1 (the port in
    /// [`crate::Config::api_port`] taken, for one).
    #[error("cannot bind the Lambda APIs: {0}")]
    Bind(#[source] std::io::Error),
    /// A runtime or extension executable could not be started (missing, not executable).
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The executable as configured.
        path: String,
        /// What `exec` said.
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited during init ({status})")]
    /// A process exited before init was over (Lambda: `Runtime.ExitError`).
    ExitedDuringInit {
        /// The process's name.
        name: String,
        /// Its exit status as text (`exit status: 1`, `signal: 9 (SIGKILL)`).
        status: String,
    },
    #[error("init error reported by {by}: {error_type}")]
    /// The runtime or an extension posted `init/error`.
    InitError {
        /// `runtime` or the extension's name.
        by: String,
        /// Its `Lambda-Extension-Function-Error-Type` / `Lambda-Runtime-Function-Error-Type` header.
        error_type: String,
    },
    /// [`crate::Config::init_timeout`] passed; says what init was still waiting for.
    #[error("init timed out waiting for {0}")]
    InitTimeout(String),
    /// An invocation after [`crate::Sandbox::shutdown`].
    #[error("the sandbox is shut down")]
    ShutDown,
    /// The sandbox went away before the invocation ended (its result can never arrive).
    #[error("the invocation was abandoned (the sandbox was dropped)")]
    Abandoned,
}
