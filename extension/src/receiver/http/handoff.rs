//! `POST /otel-sidecar/v1/invocations/{id}/handoff`: the function's last metrics and spans of an
//! invocation and the end of it, in one request (the body and route are `sidecar-contract`'s). The
//! whole body is read and decoded before anything is buffered, so a refused request leaves nothing
//! behind; then the metrics are buffered, then the spans (whose SERVER span completes the invocation,
//! as on `/v1/traces`), then the invocation is marked finished: the order the function's separate
//! `/v1/metrics`, `/v1/traces` and `finished` requests had. Answered 204 once all of it is buffered,
//! with the same limits and refusals as the OTLP routes (400, 408, 413, 415).
//!
//! The 204 carries `sidecar_contract::COMPLETION_WAIT_HEADER` (`flush.completion_timeout_ms`): while an
//! invocation is well within that wait, the function does not wait for the answer, and reads it at its
//! next hand-off, so the answer must be in the function's socket before the sandbox freezes. It is:
//! the answer is written before the lifecycle can call `next` (`finished` only wakes the controller
//! task, which runs after this connection's task has written the answer, on the same single thread).
//! See `sidecar_contract::Route::HandOff`.

use super::{AppState, read_body, refuse_early, rejected, unsupported_media_type};
use crate::pipeline::{Payload, Signal};
use crate::receiver::decode::{DecodeError, Format, decode};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use sidecar_contract::{COMPLETION_WAIT_HEADER, HandOff, InvocationId};

const WHAT: &str = "handoff";

pub(super) async fn handoff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let id = match InvocationId::parse(&id) {
        Ok(id) => id,
        Err(error) => {
            let response = (StatusCode::BAD_REQUEST, error.to_string()).into_response();
            return refuse_early(response, body);
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if Format::from_content_type(content_type) != Some(Format::Protobuf) {
        return unsupported_media_type(body);
    }
    let plain = match read_body(&state, WHAT, Format::Protobuf, &headers, body).await {
        Ok(plain) => bytes::Bytes::from(plain),
        Err(response) => return response,
    };
    match decode_parts(&plain) {
        Ok(parts) => {
            for (payload, raw) in parts {
                state.ingest.accept_encoded(&payload, Some(raw));
            }
            state.ingest.finished(id);
            let wait_ms = state.completion_wait.as_millis().to_string();
            (StatusCode::NO_CONTENT, [(COMPLETION_WAIT_HEADER, wait_ms)]).into_response()
        }
        Err(err) => rejected(WHAT, Format::Protobuf, err),
    }
}

/// The body's export requests, metrics first, each decoded and with its bytes (a slice of `body`:
/// prost hands `bytes` fields of a `Bytes` buffer out that way, so they are buffered without a copy).
fn decode_parts(body: &bytes::Bytes) -> Result<Vec<(Payload, bytes::Bytes)>, DecodeError> {
    let handoff = HandOff::decode(body.clone()).map_err(|error| DecodeError::Invalid {
        signal: WHAT,
        format: Format::Protobuf,
        reason: error.to_string(),
    })?;
    [
        (Signal::Metrics, handoff.metrics),
        (Signal::Traces, handoff.traces),
    ]
    .into_iter()
    .filter_map(|(signal, part)| Some((signal, part?)))
    .map(|(signal, part)| Ok((decode(signal, Format::Protobuf, &part)?, part)))
    .collect()
}
