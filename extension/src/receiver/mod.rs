//! Receivers: everything that brings telemetry into the sidecar. Each one decodes its protocol and hands
//! [`Payload`](crate::pipeline::Payload)s to the shared [`Ingest`] handle, which never waits for exporting.
//!
//! - [`http`]: OTLP/HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`; protobuf or JSON; gzip).
//! - `grpc`: OTLP/gRPC (cargo feature `grpc`, off by default: +0.64 MB); without it, `grpc_refusal`
//!   answers gRPC calls on the same address with `UNIMPLEMENTED`, so SDKs fail fast instead of retrying.
//!
//! [`Ingest`] is the only way received data gets into the buffer: the Telemetry API listener
//! ([`crate::telemetry`]) hands what it makes of Lambda's events to [`Ingest::accept_from_lambda`], and
//! serves on [`serve`] too. A new OTLP source converts to a `Payload` and calls [`Ingest::accept`]. (The
//! flusher adds the metric snapshots and puts back undelivered data itself: [`crate::lifecycle::flusher`].)

pub mod decode;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(not(feature = "grpc"))]
pub mod grpc_refusal;
pub mod http;
pub mod ids;
mod ingest;

pub use ingest::Ingest;

use std::net::SocketAddr;

/// Binding a listener failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The configured address.
    pub addr: SocketAddr,
    /// Why binding failed (the port taken, no permission...).
    #[source]
    pub source: std::io::Error,
}

/// The HTTP version a listener speaks. Each listener serves exactly one, with hyper's connection builder
/// for it, so that no other protocol's server code ends up in the binary (axum's `serve` would bring in
/// HTTP/2 whenever another crate of the workspace enables hyper's `http2` feature: +0.5 MB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (OTLP/HTTP).
    Http1,
    /// HTTP/2 with prior knowledge (OTLP/gRPC over h2c, as the SDKs use on loopback).
    #[cfg(feature = "grpc")]
    Http2,
}

/// Binds `addr` synchronously, so that a taken port is reported to the caller rather than lost in a
/// spawned task; returns the listener and the address it got (useful with port 0).
pub(crate) fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), BindError> {
    let bind = || -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        Ok((tokio::net::TcpListener::from_std(listener)?, local))
    };
    bind().map_err(|source| BindError { addr, source })
}

/// Binds `addr` now (so the error reaches the caller) and serves `router` on it in a background task.
/// Returns the bound address (useful with port 0).
pub fn serve(
    addr: SocketAddr,
    router: axum::Router,
    protocol: Protocol,
) -> Result<SocketAddr, BindError> {
    let (listener, local) = bind(addr)?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly, keep listening.
                    tracing::warn!(message = "accept failed", %error, addr = %local);
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let result = match protocol {
                    Protocol::Http1 => {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await
                    }
                    #[cfg(feature = "grpc")]
                    Protocol::Http2 => {
                        hyper::server::conn::http2::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(io, service)
                        .await
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(message = "receiver connection ended with an error", %error);
                }
            });
        }
    });
    Ok(local)
}
