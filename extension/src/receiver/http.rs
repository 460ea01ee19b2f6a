//! OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`, answered per the OTLP spec
//! (200 with an empty Export*ServiceResponse, 400 undecodable, 413 too large, 415 other media types or
//! encodings, 404 other paths, 405 other methods). Error bodies are a `google.rpc.Status`, encoded like
//! the request. Data is buffered before the answer; exporting happens elsewhere, later.
//!
//! A request is refused before its body is read when its media type is not OTLP's or its declared
//! `Content-Length` exceeds the limit (with or without `Expect: 100-continue`: no `100 Continue` is
//! sent), and its connection is closed once the body is drained or [`BODY_TIMEOUT`] has passed. A body that does not arrive within [`BODY_TIMEOUT`] is answered
//! 408 and its connection closed: a client that declares a body and sends nothing cannot hold a
//! connection longer.
//!
//! Two routes are not OTLP but the function's (defined in `sidecar-contract`): `POST
//! /otel-sidecar/v1/invocations/{id}/finished`, its explicit end-of-invocation signal when it has no root
//! span to send (204; 400 for a malformed id), and `POST /otel-sidecar/v1/invocations/{id}/handoff`, its
//! last metrics and spans and that end in one request ([`handoff`]).

use super::Ingest;
use super::decode::{DecodeError, Format, decode, inflate};
use crate::pipeline::Signal;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use prost::Message;
use sidecar_contract::{InvocationId, Route};

mod handoff;

/// `google.rpc.Status`, the error body OTLP/HTTP servers return.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// gRPC status code (3 invalid argument, 8 resource exhausted...).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone)]
struct AppState {
    ingest: Ingest,
    max_request_bytes: usize,
    /// `flush.completion_timeout`, announced in every answer to a hand-off.
    completion_wait: std::time::Duration,
}

/// The receiver's routes; anything else is 404. Requests larger than `max_request_bytes` are refused;
/// answers to hand-offs announce `completion_wait`, how long after an INVOKE event the lifecycle waits
/// for the invocation's hand-off (`sidecar_contract::COMPLETION_WAIT_HEADER`).
pub fn router(
    ingest: Ingest,
    max_request_bytes: usize,
    completion_wait: std::time::Duration,
) -> Router {
    let state = AppState {
        ingest,
        max_request_bytes,
        completion_wait,
    };
    Router::new()
        .route(
            "/v1/traces",
            post(|s: State<AppState>, h: HeaderMap, b: Body| export(s, Signal::Traces, h, b)),
        )
        .route(
            "/v1/metrics",
            post(|s: State<AppState>, h: HeaderMap, b: Body| export(s, Signal::Metrics, h, b)),
        )
        .route(
            "/v1/logs",
            post(|s: State<AppState>, h: HeaderMap, b: Body| export(s, Signal::Logs, h, b)),
        )
        .route(Route::Finished.pattern(), post(finished))
        .route(Route::HandOff.pattern(), post(handoff::handoff))
        // The body size is enforced below, compressed and inflated, with an OTLP-shaped answer.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn finished(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match InvocationId::parse(&id) {
        Ok(id) => {
            state.ingest.finished(id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

async fn export(
    State(state): State<AppState>,
    signal: Signal,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let header_str = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(format) = Format::from_content_type(header_str(header::CONTENT_TYPE)) else {
        return unsupported_media_type(body);
    };
    let plain = match read_body(&state, signal.as_str(), format, &headers, body).await {
        Ok(plain) => plain,
        Err(response) => return response,
    };
    match decode(signal, format, &plain) {
        Ok(payload) => {
            // A protobuf body is buffered as received; JSON is re-encoded as protobuf.
            let raw = (format == Format::Protobuf).then(|| bytes::Bytes::from(plain));
            state.ingest.accept_encoded(&payload, raw);
            success(format)
        }
        Err(err) => rejected(signal.as_str(), format, err),
    }
}

/// 415 for a body that is neither OTLP protobuf nor JSON, before reading it.
fn unsupported_media_type(body: Body) -> Response {
    let message = "unsupported media type: use application/x-protobuf or application/json";
    let response = error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Format::Protobuf,
        message.to_owned(),
    );
    refuse_early(response, body)
}

/// The request's body, within the size limit (declared and actual) and [`BODY_TIMEOUT`], inflated per its
/// `Content-Encoding`; or the answer that refuses it (`what` names the route in the log).
async fn read_body(
    state: &AppState,
    what: &'static str,
    format: Format,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, Response> {
    let header_str = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let limit = state.max_request_bytes;
    let declared = header_str(header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let message = DecodeError::TooLarge { limit }.to_string();
        return Err(refuse_early(
            error(StatusCode::PAYLOAD_TOO_LARGE, format, message),
            body,
        ));
    }
    let raw = match tokio::time::timeout(BODY_TIMEOUT, read_limited(body, limit)).await {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format,
                DecodeError::TooLarge { limit }.to_string(),
            ));
        }
        Err(_elapsed) => {
            let message = format!(
                "request body not received within {} s",
                BODY_TIMEOUT.as_secs()
            );
            tracing::warn!(message = "rejected OTLP request", signal = what, status = 408, error = %message);
            return Err(closing(error(StatusCode::REQUEST_TIMEOUT, format, message)));
        }
    };
    inflate(&raw, header_str(header::CONTENT_ENCODING), limit)
        .map_err(|err| rejected(what, format, err))
}

/// The answer to a body that could not be read or decoded, logged.
fn rejected(what: &'static str, format: Format, err: DecodeError) -> Response {
    let status = match err {
        DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DecodeError::Encoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        DecodeError::Gzip(_) | DecodeError::Invalid { .. } => StatusCode::BAD_REQUEST,
    };
    tracing::warn!(message = "rejected OTLP request", signal = what, status = status.as_u16(), error = %err);
    error(status, format, err.to_string())
}

/// How long the body of one request may take to arrive (from the end of its headers). Loopback clients
/// send megabytes in milliseconds; this only bounds a client that declared a body and stalls.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers at once, without waiting for the body (it may never come), and closes the connection. The
/// body is drained in the background (at most [`DRAIN_BYTES`], at most [`BODY_TIMEOUT`]) while the answer
/// goes out: closing a socket with unread data resets the connection, and a client still sending would
/// lose the answer. No `100 Continue` is sent: hyper sends it only before a response.
fn refuse_early(response: Response, body: Body) -> Response {
    tokio::spawn(async move {
        let mut body = body;
        let drain = async {
            let mut drained = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                drained += frame.data_ref().map_or(0, |data| data.len());
                if drained > DRAIN_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(BODY_TIMEOUT, drain).await;
    });
    closing(response)
}

/// `response` with `Connection: close`: its request's body was not read, the connection cannot carry
/// another request.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// Most bytes read and discarded after the limit, so that a client still sending gets the 413 rather than
/// a reset connection; beyond this the connection is simply closed.
const DRAIN_BYTES: usize = 32 << 20;

/// The body, if it fits in `limit` bytes. An oversized body is drained (up to [`DRAIN_BYTES`]) first.
async fn read_limited(mut body: Body, limit: usize) -> Option<bytes::Bytes> {
    let mut collected = bytes::BytesMut::new();
    let mut oversized = false;
    let mut discarded = 0usize;
    while let Some(frame) = body.frame().await {
        // A broken stream cannot be answered usefully: treat it like an oversized one.
        let Ok(frame) = frame else { return None };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if oversized {
            discarded += data.len();
            if discarded > DRAIN_BYTES {
                return None;
            }
        } else if collected.len() + data.len() > limit {
            oversized = true;
            collected = bytes::BytesMut::new();
        } else {
            collected.extend_from_slice(&data);
        }
    }
    (!oversized).then(|| collected.freeze())
}

fn success(format: Format) -> Response {
    // An empty Export*ServiceResponse: no partial success. Its protobuf encoding is zero bytes.
    let body = match format {
        Format::Protobuf => Vec::new(),
        Format::Json => b"{}".to_vec(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, format: Format, message: String) -> Response {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => 8,       // RESOURCE_EXHAUSTED
        StatusCode::UNSUPPORTED_MEDIA_TYPE => 12, // UNIMPLEMENTED
        StatusCode::REQUEST_TIMEOUT => 4,         // DEADLINE_EXCEEDED
        _ => 3,                                   // INVALID_ARGUMENT
    };
    let body = match format {
        Format::Protobuf => RpcStatus { code, message }.encode_to_vec(),
        Format::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    (
        status,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
