//! Receivers: everything that brings telemetry into the sidecar. Each one decodes its protocol and hands
//! [`Payload`](crate::pipeline::Payload)s to the shared [`Ingest`] handle, which never waits for exporting.
//!
//! - [`http`]: OTLP/HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`; protobuf or JSON; gzip).
//! - [`grpc`]: OTLP/gRPC (feature `grpc`, on by default).
//!
//! A new source (the Lambda Telemetry API listener) plugs in the same way: convert to a `Payload`, call
//! [`Ingest::accept`], and start its server from [`serve`]-like wiring in `main.rs`.

pub mod decode;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod http;
mod ingest;

pub use ingest::Ingest;

use std::net::SocketAddr;

/// Binding a listener failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The configured address.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` now (so the error reaches the caller) and serves `router` on it in a background task.
/// Returns the bound address (useful with port 0).
pub fn serve(addr: SocketAddr, router: axum::Router) -> Result<SocketAddr, BindError> {
    let bind = || -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        Ok((tokio::net::TcpListener::from_std(listener)?, local))
    };
    let (listener, local) = bind().map_err(|source| BindError { addr, source })?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(message = "receiver stopped", %error, addr = %local);
        }
    });
    Ok(local)
}
