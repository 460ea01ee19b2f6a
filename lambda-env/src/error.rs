//! What can go wrong starting, invoking or stopping a sandbox.

/// A sandbox error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind the Lambda APIs: {0}")]
    Bind(#[source] std::io::Error),
    #[error("cannot start {path}: {source}")]
    Spawn {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited during init ({status})")]
    ExitedDuringInit { name: String, status: String },
    #[error("init error reported by {by}: {error_type}")]
    InitError { by: String, error_type: String },
    #[error("init timed out waiting for {0}")]
    InitTimeout(String),
    #[error("the sandbox is shut down")]
    ShutDown,
    #[error("the invocation was abandoned (the sandbox was dropped)")]
    Abandoned,
}
