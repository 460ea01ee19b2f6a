//! The contract between the function (`handler`) and the sidecar (`extension`) beyond plain OTLP,
//! defined once for both: the attribute that names an invocation, the sidecar's own routes, and the
//! body of the function's one-request hand-off.
//!
//! - [`path`]: the routes under `/otel-sidecar/v1/invocations/{id}/`, their patterns and path builders.
//! - [`handoff`]: the hand-off body, an invocation's metrics and traces in one protobuf message.
//!
//! Everything else between the two is plain OTLP/HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`), which
//! the sidecar accepts from any function, in any language.

pub mod handoff;
pub mod path;

pub use handoff::HandOff;
pub use path::{BadInvocationId, InvocationId, Route};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The span attribute that carries the Lambda request id on the function's SERVER span (OpenTelemetry
/// semantic conventions, `faas.invocation_id`): the sidecar takes a buffered SERVER (or parentless) span
/// with it as the end of that invocation's telemetry.
pub const INVOCATION_ID_ATTRIBUTE: &str = "faas.invocation_id";

/// Where the sidecar's OTLP/HTTP receiver listens by default.
pub const DEFAULT_HTTP_RECEIVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4318);

/// Where the function hands off by default (its `OTEL_SIDECAR_ENDPOINT`): [`DEFAULT_HTTP_RECEIVER`].
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4318";

/// `Content-Type` of a hand-off body (it is a protobuf message, see [`handoff`]).
pub const HANDOFF_CONTENT_TYPE: &str = "application/x-protobuf";

/// Header of the sidecar's 2xx answer to a hand-off: how long (ms) after an INVOKE event it waits for
/// that invocation's hand-off before it may call `next` without it (`flush.completion_timeout_ms`; it
/// also stops at the invocation's deadline). A function may write a hand-off without waiting for the
/// answer ([`Route::HandOff`]) only well within that wait and before its deadline: after either, the
/// sidecar may already be waiting in `next`, and the sandbox could freeze before it reads the hand-off.
/// Without the header (another receiver), the function waits for every answer. The sidecar does not wait
/// at all for the invocation after one whose hand-off it did not receive; a function that follows this
/// contract has then seen that hand-off fail (or skipped it), forgotten the announced wait, and waits for
/// its next answer.
pub const COMPLETION_WAIT_HEADER: &str = "otel-sidecar-completion-wait-ms";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_endpoint_is_the_default_receiver() {
        assert_eq!(DEFAULT_ENDPOINT, format!("http://{DEFAULT_HTTP_RECEIVER}"));
    }
}
